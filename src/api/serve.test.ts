import { deepStrictEqual as assertEquals, ok, rejects, throws } from "node:assert/strict";
import { PolisError } from "../core/mod.ts";
import { createApp } from "./app.ts";
import { FakeEngine } from "./fake-engine.ts";
import { assertSocketFree, serveApi } from "./serve.ts";

function unixFetch(socket: string) {
  const client = Deno.createHttpClient({ proxy: { transport: "unix", path: socket } });
  return {
    fetch: (path: string, init?: RequestInit) =>
      fetch(`http://127.0.0.1${path}`, { ...init, client }),
    close: () => client.close(),
  };
}

Deno.test("serveApi listens on a 0660 unix socket in a new directory and removes it on close", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "polis-api-" });
  const socket = `${dir}/run/sub/polis.sock`;
  const server = serveApi(createApp(new FakeEngine(), { version: "1" }), { socket });
  const http = unixFetch(socket);
  try {
    assertEquals(Deno.statSync(socket).mode! & 0o777, 0o660);
    const res = await http.fetch("/v1/_ping");
    assertEquals(await res.text(), "OK");
    await rejects(assertSocketFree(socket), (e: unknown) => e instanceof PolisError);
  } finally {
    http.close();
    await server.close();
    Deno.removeSync(dir, { recursive: true });
  }
  throws(() => Deno.statSync(socket));
});

Deno.test("serveApi replaces a stale socket file but refuses a regular file", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "polis-api-" });
  const socket = `${dir}/polis.sock`;
  try {
    // A listener that dies without cleaning up leaves its socket file behind.
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        `const l = Deno.listen({ transport: "unix", path: ${JSON.stringify(socket)} });
        console.log("ready");
        await l.accept();`,
      ],
      stdout: "piped",
    }).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    await reader.read();
    child.kill("SIGKILL");
    await child.status;
    await reader.cancel();
    ok(Deno.lstatSync(socket).isSocket);
    await assertSocketFree(socket);
    const server = serveApi(createApp(new FakeEngine(), { version: "1" }), { socket });
    await server.close();

    Deno.writeTextFileSync(socket, "not a socket");
    throws(
      () => serveApi(createApp(new FakeEngine(), { version: "1" }), { socket }),
      /is not a socket/,
    );
    assertEquals(Deno.readTextFileSync(socket), "not a socket");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("serveApi also serves TCP when asked", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "polis-api-" });
  const server = serveApi(createApp(new FakeEngine(), { version: "1" }), {
    socket: `${dir}/polis.sock`,
    tcp: { hostname: "127.0.0.1", port: 0 },
  });
  try {
    const res = await fetch(`http://127.0.0.1:${server.tcpAddr!.port}/v1/_ping`);
    assertEquals(await res.text(), "OK");
  } finally {
    await server.close();
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("close() ends followed log streams at once and closes the engine iterators", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "polis-api-" });
  const socket = `${dir}/polis.sock`;
  const engine = new FakeEngine();
  const server = serveApi(createApp(engine, { version: "1" }), { socket });
  const http = unixFetch(socket);
  try {
    const { Id } = await engine.createContainer({ image: "busybox", cmd: ["sleep"] });
    await engine.startContainer(Id);
    const res = await http.fetch(`/v1/containers/${Id}/logs?follow=1`);
    assertEquals(res.status, 200);
    assertEquals(engine.openFollowers, 1);
    const body = res.text();
    const t0 = Date.now();
    await server.close();
    assertEquals(await body, "");
    ok(Date.now() - t0 < 2000, "closed promptly");
    assertEquals(engine.openFollowers, 0);
  } finally {
    http.close();
    await server.close();
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("a client that disconnects from a followed log stream closes the engine iterator", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "polis-api-" });
  const socket = `${dir}/polis.sock`;
  const engine = new FakeEngine();
  const server = serveApi(createApp(engine, { version: "1" }), { socket });
  const http = unixFetch(socket);
  try {
    const { Id } = await engine.createContainer({ image: "busybox", cmd: ["sleep"] });
    await engine.startContainer(Id);
    const ac = new AbortController();
    const res = await http.fetch(`/v1/containers/${Id}/logs?follow=1`, { signal: ac.signal });
    assertEquals(engine.openFollowers, 1);
    ac.abort();
    await res.body?.cancel().catch(() => {});
    for (let i = 0; i < 100 && engine.openFollowers > 0; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assertEquals(engine.openFollowers, 0);
  } finally {
    http.close();
    await server.close();
    Deno.removeSync(dir, { recursive: true });
  }
});
