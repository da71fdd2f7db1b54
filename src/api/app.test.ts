import { deepStrictEqual as assertEquals, match, ok } from "node:assert/strict";
import { PolisError } from "../core/mod.ts";
import { createApp } from "./app.ts";
import { FakeEngine } from "./fake-engine.ts";

function setup() {
  const engine = new FakeEngine();
  const app = createApp(engine, { version: "9.9.9" });
  return { engine, app };
}

function post(body: unknown): RequestInit {
  return {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  };
}

async function createBusybox(app: ReturnType<typeof createApp>, cmd: string[], name?: string) {
  const res = await app.request("/v1/containers", post({ image: "busybox", cmd, name }));
  assertEquals(res.status, 201);
  return ((await res.json()) as { Id: string }).Id;
}

async function readLines(res: Response, n: number): Promise<unknown[]> {
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  const out: unknown[] = [];
  while (out.length < n) {
    const { done, value } = await reader.read();
    if (done) break;
    buf += value;
    let i;
    while ((i = buf.indexOf("\n")) >= 0 && out.length < n) {
      out.push(JSON.parse(buf.slice(0, i)));
      buf = buf.slice(i + 1);
    }
  }
  await reader.cancel();
  return out;
}

Deno.test("ping answers OK with a Server header naming the version", async () => {
  const { app } = setup();
  const res = await app.request("/v1/_ping");
  assertEquals(res.status, 200);
  assertEquals(await res.text(), "OK");
  assertEquals(res.headers.get("server"), "polis/9.9.9");
});

Deno.test("version and info return the engine's views", async () => {
  const { app } = setup();
  const v = await (await app.request("/v1/version")).json();
  assertEquals(v.Version, "0.0.0-fake");
  const i = await (await app.request("/v1/info")).json();
  assertEquals(i.Images, 1);
});

Deno.test("create converts docker memory and cpus strings before the engine sees them", async () => {
  const { app, engine } = setup();
  const res = await app.request(
    "/v1/containers",
    post({
      image: "busybox",
      name: "web",
      memory: "32m",
      cpus: "0.5",
      env: ["A=1"],
      labels: { k: "v" },
      pidsLimit: 10,
      autoRemove: true,
      cmd: ["echo", "hi"],
    }),
  );
  assertEquals(res.status, 201);
  const body = await res.json();
  match(body.Id, /^[0-9a-f]{64}$/);
  assertEquals(body.Warnings, []);
  assertEquals(engine.callsOf("createContainer")[0][0], {
    image: "busybox",
    name: "web",
    memory: 32 * 1024 * 1024,
    nanoCpus: 500_000_000,
    env: ["A=1"],
    labels: { k: "v" },
    pidsLimit: 10,
    autoRemove: true,
    cmd: ["echo", "hi"],
  });
});

Deno.test("create accepts memory in bytes and cpus as a number", async () => {
  const { app, engine } = setup();
  const res = await app.request(
    "/v1/containers",
    post({ image: "busybox", memory: 1048576, cpus: 2 }),
  );
  assertEquals(res.status, 201);
  const spec = engine.callsOf("createContainer")[0][0] as Record<string, unknown>;
  assertEquals(spec.memory, 1048576);
  assertEquals(spec.nanoCpus, 2_000_000_000);
});

Deno.test("create rejects bad input with a 400 naming the field", async () => {
  const { app, engine } = setup();
  const cases: [unknown, RegExp][] = [
    [{ image: "busybox", memory: "lots" }, /^invalid request: memory: invalid memory size "lots"/],
    [{ image: "busybox", cpus: "-1" }, /^invalid request: cpus: /],
    [{ image: "busybox", cpus: 0 }, /^invalid request: cpus: /],
    [{}, /^invalid request: image: /],
    [{ image: "busybox", memroy: "1m" }, /^invalid request: body: Unrecognized key: "memroy"/],
    [{ image: "busybox", env: ["=x"] }, /^invalid request: env\.0: expected K=V/],
    [{ image: "busybox", cmd: "ls" }, /^invalid request: cmd: /],
    [{ image: "busybox", cpus: 1, nanoCpus: 5 }, /^invalid request: cpus: give either/],
  ];
  for (const [body, want] of cases) {
    const res = await app.request("/v1/containers", post(body));
    assertEquals(res.status, 400, JSON.stringify(body));
    const err = (await res.json()).error;
    assertEquals(err.code, "invalid_argument");
    match(err.message, want);
    ok(!err.message.includes("\n"), "one line");
  }
  assertEquals(engine.callsOf("createContainer").length, 0);
});

Deno.test("create rejects malformed JSON and a non-JSON body with 400", async () => {
  const { app } = setup();
  let res = await app.request("/v1/containers", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: "{nope",
  });
  assertEquals(res.status, 400);
  match((await res.json()).error.message, /^invalid request: .*JSON/);
  res = await app.request("/v1/containers", {
    method: "POST",
    headers: { "content-type": "text/plain" },
    body: "x",
  });
  assertEquals(res.status, 400);
  assertEquals((await res.json()).error.code, "invalid_argument");
});

Deno.test("lifecycle verbs pass id and query options to the engine and answer 204", async () => {
  const { app, engine } = setup();
  await createBusybox(app, ["sleep"], "web");
  const cases: [string, string, unknown[]][] = [
    ["/v1/containers/web/start", "startContainer", ["web"]],
    ["/v1/containers/web/restart?t=3", "restartContainer", ["web", 3]],
    ["/v1/containers/web/kill?signal=SIGTERM", "killContainer", ["web", "SIGTERM"]],
    ["/v1/containers/web/start", "startContainer", ["web"]],
    ["/v1/containers/web/stop?t=5", "stopContainer", ["web", 5]],
    ["/v1/containers/web/stop", "stopContainer", ["web", undefined]],
  ];
  for (const [url, method, args] of cases) {
    const res = await app.request(url, { method: "POST" });
    assertEquals(res.status, 204, url);
    assertEquals(engine.callsOf(method).at(-1), args, url);
  }
});

Deno.test("bad query values answer 400 naming the parameter", async () => {
  const { app } = setup();
  await createBusybox(app, ["sleep"], "web");
  const cases: [string, string, RegExp][] = [
    ["POST", "/v1/containers/web/stop?t=abc", /^invalid request: t: /],
    ["POST", "/v1/containers/web/stop?t=-1", /^invalid request: t: /],
    ["POST", "/v1/containers/web/kill?signal=SIG%20X", /^invalid request: signal: /],
    ["DELETE", "/v1/containers/web?force=maybe", /^invalid request: force: /],
    ["GET", "/v1/containers?filters=notjson", /^invalid request: filters: not valid JSON/],
    ["GET", '/v1/containers?filters={"status":"running"}', /filter "status" must be a list/],
    ["GET", "/v1/containers/web/logs?tail=x", /^invalid request: tail: /],
  ];
  for (const [method, url, want] of cases) {
    const res = await app.request(url, { method });
    assertEquals(res.status, 400, url);
    match((await res.json()).error.message, want);
  }
});

Deno.test("wait registered before start returns the exit status when the container exits", async () => {
  const { app } = setup();
  const id = await createBusybox(app, ["fail", "3", "boom"]);
  const waiting = app.request(`/v1/containers/${id}/wait`, { method: "POST" });
  const waitRes = await waiting; // headers arrive while the container has not run yet
  assertEquals(waitRes.status, 200);
  assertEquals((await app.request(`/v1/containers/${id}/start`, { method: "POST" })).status, 204);
  assertEquals(await waitRes.json(), { StatusCode: 3, OOMKilled: false });
});

Deno.test("wait on an unknown container answers 404", async () => {
  const { app } = setup();
  const res = await app.request("/v1/containers/nope/wait", { method: "POST" });
  assertEquals(res.status, 404);
  assertEquals((await res.json()).error, { code: "not_found", message: "No such container: nope" });
});

Deno.test("remove passes force and maps a running-container refusal to 409", async () => {
  const { app, engine } = setup();
  await createBusybox(app, ["sleep"], "web");
  await app.request("/v1/containers/web/start", { method: "POST" });
  let res = await app.request("/v1/containers/web", { method: "DELETE" });
  assertEquals(res.status, 409);
  assertEquals((await res.json()).error.code, "conflict");
  res = await app.request("/v1/containers/web?force=1", { method: "DELETE" });
  assertEquals(res.status, 204);
  assertEquals(engine.callsOf("removeContainer").at(-1), ["web", { force: true }]);
});

Deno.test("list passes all and decoded docker filters", async () => {
  const { app, engine } = setup();
  await createBusybox(app, ["sleep"], "a");
  let res = await app.request("/v1/containers");
  assertEquals(await res.json(), []);
  const filters = encodeURIComponent(JSON.stringify({ name: ["a"], label: ["k=v"] }));
  res = await app.request(`/v1/containers?all=true&filters=${filters}`);
  assertEquals(res.status, 200);
  const rows = await res.json();
  assertEquals(rows.length, 1);
  assertEquals(rows[0].Names, ["/a"]);
  assertEquals(engine.callsOf("listContainers").at(-1), [{
    all: true,
    filters: { name: ["a"], label: ["k=v"] },
  }]);
  // docker's older map form {"status":{"running":true}}
  res = await app.request(
    `/v1/containers?all=1&filters=${encodeURIComponent('{"status":{"exited":true}}')}`,
  );
  assertEquals(engine.callsOf("listContainers").at(-1), [{
    all: true,
    filters: { status: ["exited"] },
  }]);
});

Deno.test("inspect returns the container and 404 JSON for an unknown one", async () => {
  const { app } = setup();
  const id = await createBusybox(app, ["sleep"], "web");
  let res = await app.request("/v1/containers/web");
  assertEquals(res.status, 200);
  const body = await res.json();
  assertEquals(body.Id, id);
  assertEquals(body.Name, "/web");
  res = await app.request("/v1/containers/ghost");
  assertEquals(res.status, 404);
  assertEquals(res.headers.get("content-type"), "application/json");
  assertEquals((await res.json()).error.code, "not_found");
});

Deno.test("logs stream NDJSON entries and pass the options to the engine", async () => {
  const { app, engine } = setup();
  const id = await createBusybox(app, ["echo", "hello"]);
  await app.request(`/v1/containers/${id}/start`, { method: "POST" });
  await (await app.request(`/v1/containers/${id}/wait`, { method: "POST" })).json();
  const res = await app.request(
    `/v1/containers/${id}/logs?tail=5&since=1&until=99999999999&timestamps=1&stderr=0`,
  );
  assertEquals(res.status, 200);
  assertEquals(res.headers.get("content-type"), "application/x-ndjson");
  const text = await res.text();
  const lines = text.trimEnd().split("\n").map((l) => JSON.parse(l));
  assertEquals(lines.length, 1);
  assertEquals(lines[0].stream, "stdout");
  assertEquals(lines[0].log, "hello\n");
  match(lines[0].time, /^\d{4}-\d\d-\d\dT/);
  assertEquals(engine.callsOf("containerLogs").at(-1), [id, {
    follow: undefined,
    tail: 5,
    since: 1,
    until: 99999999999,
    stdout: undefined,
    stderr: false,
  }]);
  await app.request(`/v1/containers/${id}/logs?tail=all`);
  assertEquals((engine.callsOf("containerLogs").at(-1)![1] as { tail?: number }).tail, undefined);
});

Deno.test("logs of an unknown container answer 404, not an empty stream", async () => {
  const { app } = setup();
  const res = await app.request("/v1/containers/ghost/logs");
  assertEquals(res.status, 404);
  assertEquals((await res.json()).error.code, "not_found");
});

Deno.test("followed logs stream live lines and cancelling the body closes the engine iterator", async () => {
  const { app, engine } = setup();
  const id = await createBusybox(app, ["sleep"], "web");
  await app.request("/v1/containers/web/start", { method: "POST" });
  const res = await app.request("/v1/containers/web/logs?follow=1");
  assertEquals(res.status, 200);
  assertEquals(engine.openFollowers, 1);
  const c = engine.containers.get(id)!;
  setTimeout(() => {
    c.logs.push({ stream: "stderr", log: "live\n", time: new Date().toISOString() });
    for (const wake of [...c.wakers]) wake();
  }, 10);
  const [entry] = await readLines(res, 1); // readLines cancels the body afterwards
  assertEquals((entry as { log: string }).log, "live\n");
  assertEquals(engine.openFollowers, 0);
});

Deno.test("followed logs end when the container stops", async () => {
  const { app } = setup();
  await createBusybox(app, ["sleep"], "web");
  await app.request("/v1/containers/web/start", { method: "POST" });
  const res = await app.request("/v1/containers/web/logs?follow=true");
  setTimeout(() => void app.request("/v1/containers/web/stop", { method: "POST" }), 10);
  assertEquals(await res.text(), "");
});

Deno.test("an engine failure mid-stream becomes a final error line", async () => {
  const engine = new FakeEngine();
  engine.containerLogs = () => ({
    async *[Symbol.asyncIterator]() {
      yield { stream: "stdout" as const, log: "a\n", time: "2024-01-01T00:00:00Z" };
      await new Promise((r) => setTimeout(r, 5));
      throw PolisError.internal("log file vanished");
    },
  });
  const app = createApp(engine, { version: "1" });
  const res = await app.request("/v1/containers/x/logs");
  assertEquals(res.status, 200);
  const lines = (await res.text()).trimEnd().split("\n").map((l) => JSON.parse(l));
  assertEquals(lines, [
    { stream: "stdout", log: "a\n", time: "2024-01-01T00:00:00Z" },
    { error: { code: "internal", message: "log file vanished" } },
  ]);
});

Deno.test("images: list, inspect, tag and remove with URL-encoded references", async () => {
  const { app, engine } = setup();
  const list = await (await app.request("/v1/images")).json();
  assertEquals(list[0].RepoTags, ["busybox:latest"]);

  let res = await app.request(`/v1/images/${encodeURIComponent("busybox:latest")}`);
  assertEquals(res.status, 200);
  assertEquals((await res.json()).Os, "linux");

  res = await app.request(
    `/v1/images/${encodeURIComponent("busybox:latest")}/tag`,
    post({ target: "reg.local:5000/team/app:1.0" }),
  );
  assertEquals(res.status, 201);
  assertEquals(engine.callsOf("tagImage")[0], ["busybox:latest", "reg.local:5000/team/app:1.0"]);

  res = await app.request(`/v1/images/${encodeURIComponent("reg.local:5000/team/app:1.0")}`, {
    method: "DELETE",
  });
  assertEquals(res.status, 200);
  assertEquals(await res.json(), [{ Untagged: "reg.local:5000/team/app:1.0" }]);
  assertEquals(engine.callsOf("removeImage")[0], ["reg.local:5000/team/app:1.0", {
    force: undefined,
  }]);

  res = await app.request(`/v1/images/busybox?force=1`, { method: "DELETE" });
  assertEquals(engine.callsOf("removeImage")[1], ["busybox", { force: true }]);
  res = await app.request(`/v1/images/${encodeURIComponent("gone:1")}`);
  assertEquals(res.status, 404);
});

Deno.test("tag without a target answers 400", async () => {
  const { app } = setup();
  const res = await app.request("/v1/images/busybox/tag", post({}));
  assertEquals(res.status, 400);
  match((await res.json()).error.message, /^invalid request: target: /);
});

Deno.test("load streams the request body to the engine", async () => {
  const { app, engine } = setup();
  const res = await app.request("/v1/images/load", {
    method: "POST",
    headers: { "content-type": "application/x-tar" },
    body: new Uint8Array(3000),
  });
  assertEquals(res.status, 200);
  assertEquals(await res.json(), { loaded: ["loaded:latest"] });
  assertEquals(engine.lastLoadedBytes, 3000);
  assertEquals(engine.callsOf("loadImages")[0], ["<stream>"]);
});

Deno.test("load accepts a server-side path as JSON and rejects a relative one", async () => {
  const { app, engine } = setup();
  let res = await app.request("/v1/images/load", post({ path: "/srv/img.tar" }));
  assertEquals(res.status, 200);
  assertEquals(engine.callsOf("loadImages")[0], ["/srv/img.tar"]);
  res = await app.request("/v1/images/load", post({ path: "img.tar" }));
  assertEquals(res.status, 400);
  match((await res.json()).error.message, /^invalid request: path: must be an absolute path/);
});

Deno.test("each error code maps to its HTTP status, keeping details", async () => {
  const cases: [PolisError | Error, number, string][] = [
    [PolisError.notFound("x"), 404, "not_found"],
    [PolisError.conflict("x"), 409, "conflict"],
    [PolisError.invalid("x"), 400, "invalid_argument"],
    [PolisError.precondition("x"), 409, "failed_precondition"],
    [new PolisError("unavailable", "x"), 503, "unavailable"],
    [PolisError.internal("x"), 500, "internal"],
    [new TypeError("x"), 500, "internal"],
  ];
  for (const [err, status, code] of cases) {
    const { app, engine } = setup();
    engine.failNext = err;
    const res = await app.request("/v1/images");
    assertEquals(res.status, status, code);
    assertEquals(await res.json(), { error: { code, message: "x" } });
  }
  const { app, engine } = setup();
  engine.failNext = new PolisError("invalid_argument", "no sh", { details: { exitCode: 127 } });
  const res = await app.request("/v1/containers/x/start", { method: "POST" });
  assertEquals(await res.json(), {
    error: { code: "invalid_argument", message: "no sh", details: { exitCode: 127 } },
  });
});

Deno.test("unknown routes answer 404 JSON", async () => {
  const { app } = setup();
  for (const [method, url] of [["GET", "/v2/x"], ["GET", "/"], ["PUT", "/v1/containers"]]) {
    const res = await app.request(url, { method });
    assertEquals(res.status, 404);
    assertEquals((await res.json()).error, {
      code: "not_found",
      message: `no such route: ${method} ${new URL(url, "http://x").pathname}`,
    });
  }
});

Deno.test("the OpenAPI document lists every route", async () => {
  const { app } = setup();
  const res = await app.request("/v1/openapi.json");
  assertEquals(res.status, 200);
  const doc = await res.json();
  assertEquals(doc.openapi, "3.1.0");
  assertEquals(doc.info.version, "9.9.9");
  const routes = Object.entries(doc.paths as Record<string, Record<string, unknown>>)
    .flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`))
    .sort();
  assertEquals(routes, [
    "DELETE /v1/containers/{id}",
    "DELETE /v1/images/{ref}",
    "DELETE /v1/networks/{id}",
    "DELETE /v1/networks/{id}/rules/{rule}",
    "GET /v1/_ping",
    "GET /v1/containers",
    "GET /v1/containers/{id}",
    "GET /v1/containers/{id}/logs",
    "GET /v1/images",
    "GET /v1/images/get",
    "GET /v1/images/{ref}",
    "GET /v1/info",
    "GET /v1/networks",
    "GET /v1/networks/{id}",
    "GET /v1/networks/{id}/rules",
    "GET /v1/system/df",
    "GET /v1/version",
    "POST /v1/auth",
    "POST /v1/containers",
    "POST /v1/containers/{id}/kill",
    "POST /v1/containers/{id}/restart",
    "POST /v1/containers/{id}/start",
    "POST /v1/containers/{id}/stop",
    "POST /v1/containers/{id}/wait",
    "POST /v1/images/load",
    "POST /v1/images/prune",
    "POST /v1/images/pull",
    "POST /v1/images/{ref}/push",
    "POST /v1/images/{ref}/tag",
    "POST /v1/networks",
    "POST /v1/networks/prune",
    "POST /v1/networks/{id}/connect",
    "POST /v1/networks/{id}/disconnect",
    "POST /v1/networks/{id}/rules",
  ]);
  ok(doc.components.schemas.ContainerCreateRequest);
  ok(doc.components.schemas.Error);
});
