import { deepStrictEqual as assertEquals, ok, rejects } from "node:assert/strict";
import { createApp, serveApi } from "../api/mod.ts";
import { FakeEngine } from "../api/testing.ts";
import { PolisError } from "../core/mod.ts";
import { DaemonUnreachableError, errorFromBody, PolisClient } from "./client.ts";

async function withClient(fn: (c: PolisClient, engine: FakeEngine) => Promise<void>) {
  const dir = Deno.makeTempDirSync({ prefix: "polis-client-" });
  const engine = new FakeEngine();
  const server = serveApi(createApp(engine, { version: "1" }), { socket: `${dir}/s.sock` });
  const client = new PolisClient({ socket: `${dir}/s.sock` });
  try {
    await fn(client, engine);
  } finally {
    client.close();
    await server.close();
    Deno.removeSync(dir, { recursive: true });
  }
}

Deno.test("errorFromBody rebuilds code, message and details, and falls back on the status", () => {
  const e = errorFromBody({
    error: { code: "invalid_argument", message: "no sh", details: { exitCode: 127 } },
  })!;
  ok(e instanceof PolisError);
  assertEquals([e.code, e.message, e.details], ["invalid_argument", "no sh", { exitCode: 127 }]);
  assertEquals(errorFromBody({ error: { code: "weird", message: "m" } }, 404)!.code, "not_found");
  assertEquals(errorFromBody({ StatusCode: 0 }), undefined);
  assertEquals(errorFromBody(null), undefined);
});

Deno.test("daemon errors arrive as PolisError with the daemon's code and details", () =>
  withClient(async (client, engine) => {
    await rejects(client.inspectContainer("ghost"), (e: unknown) => {
      ok(e instanceof PolisError);
      assertEquals([e.code, e.message], ["not_found", "No such container: ghost"]);
      return true;
    });
    engine.failNext = new PolisError("invalid_argument", "x", { details: { exitCode: 126 } });
    await rejects(client.startContainer("any"), (e: unknown) => {
      assertEquals((e as PolisError).details, { exitCode: 126 });
      return true;
    });
  }));

Deno.test("an absent daemon is a DaemonUnreachableError naming the socket", async () => {
  const client = new PolisClient({ socket: "/nonexistent/polis.sock" });
  try {
    await rejects(client.ping(), (e: unknown) => {
      ok(e instanceof DaemonUnreachableError);
      assertEquals((e as PolisError).code, "unavailable");
      assertEquals(
        (e as Error).message,
        "cannot connect to the Polis daemon at /nonexistent/polis.sock: is 'polis daemon' running?",
      );
      return true;
    });
  } finally {
    client.close();
  }
});

Deno.test("breaking out of a followed log loop closes the daemon's follower", () =>
  withClient(async (client, engine) => {
    const { Id } = await client.createContainer({ image: "busybox", cmd: ["sleep"] });
    await client.startContainer(Id);
    const c = engine.containers.get(Id)!;
    c.logs.push({ stream: "stdout", log: "x\n", time: new Date().toISOString() });
    for await (const entry of client.containerLogs(Id, { follow: true })) {
      assertEquals(entry.log, "x\n");
      break;
    }
    for (let i = 0; i < 100 && engine.openFollowers > 0; i++) {
      await new Promise((r) => setTimeout(r, 5));
    }
    assertEquals(engine.openFollowers, 0);
  }));

Deno.test("a cancelled wait rejects without an unhandled rejection", () =>
  withClient(async (client) => {
    const { Id } = await client.createContainer({ image: "busybox", cmd: ["sleep"] });
    const wait = await client.registerWait(Id);
    wait.cancel();
    await rejects(wait.result);
  }));

Deno.test("every SDK call reaches the engine with its arguments", () =>
  withClient(async (client, engine) => {
    assertEquals(await client.ping(), "OK");
    assertEquals((await client.version()).Version, "0.0.0-fake");
    assertEquals((await client.info()).NCPU, 4);
    ok(((await client.openapi()) as { paths: object }).paths);
    const { Id } = await client.createContainer({ image: "busybox", memory: "1m", cpus: 1 });
    assertEquals(
      (engine.callsOf("createContainer")[0][0] as { memory: number }).memory,
      1024 * 1024,
    );
    await client.startContainer(Id);
    await client.restartContainer(Id, { timeout: 1 });
    await client.killContainer(Id, { signal: "9" });
    await client.stopContainer(Id, { timeout: 0 });
    assertEquals((await client.listContainers({ all: true, filters: { name: ["x"] } })).length, 0);
    assertEquals(engine.callsOf("listContainers")[0], [{ all: true, filters: { name: ["x"] } }]);
    assertEquals((await client.inspectContainer(Id)).Id, Id);
    assertEquals(await client.waitContainer(Id), { StatusCode: 137, OOMKilled: false });
    await client.removeContainer(Id, { force: true });
    assertEquals((await client.listImages()).length, 1);
    assertEquals(await client.loadImages({ path: "/srv/x.tar" }), { loaded: ["loaded:latest"] });
    assertEquals(await client.loadImages(new Uint8Array(10)), { loaded: ["loaded:latest"] });
    await client.tagImage("busybox", "a/b:c");
    assertEquals((await client.inspectImage("a/b:c")).RepoTags, ["busybox:latest", "a/b:c"]);
    assertEquals(await client.removeImage("a/b:c"), [{ Untagged: "a/b:c" }]);
    assertEquals(engine.callsOf("stopContainer")[0], [Id, 0]);
    assertEquals(engine.callsOf("killContainer")[0], [Id, "9"]);
  }));
