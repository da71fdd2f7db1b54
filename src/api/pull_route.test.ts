import { deepStrictEqual as eq, match } from "node:assert/strict";
import { createApp } from "./app.ts";
import { FakeEngine } from "./fake-engine.ts";

function setup() {
  const engine = new FakeEngine();
  return { engine, app: createApp(engine, { version: "9.9.9" }) };
}

const post = (body: unknown): RequestInit => ({
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify(body),
});

Deno.test("pull streams progress as NDJSON and ends with a done line", async () => {
  const { app, engine } = setup();
  const res = await app.request(
    "/v1/images/pull",
    post({ reference: "127.0.0.1:5000/app:1", platform: "linux/arm64" }),
  );
  eq(res.status, 200);
  eq(res.headers.get("content-type"), "application/x-ndjson");
  const lines = (await res.text()).trim().split("\n").map((l) => JSON.parse(l));
  eq(lines[0], { id: "latest", status: "Pulling from 127.0.0.1:5000/app:1" });
  eq(lines[1], { id: "0123456789ab", status: "Downloading", current: 1, total: 2 });
  eq(lines.at(-1), {
    status: "done",
    image: "sha256:" + "d".repeat(64),
    reference: "127.0.0.1:5000/app:1",
    digest: "sha256:" + "e".repeat(64),
  });
  eq(engine.calls.at(-1), {
    method: "pullImage",
    args: ["127.0.0.1:5000/app:1", { platform: "linux/arm64", auth: undefined }],
  });
});

Deno.test("pull failing at once answers with the error's status, not a stream", async () => {
  const { app } = setup();
  const bad = await app.request("/v1/images/pull", post({ reference: "Bad Ref" }));
  eq(bad.status, 400);
  match((await bad.json()).error.message, /invalid reference format/);
  const missing = await app.request("/v1/images/pull", post({ reference: "x/missing" }));
  eq(missing.status, 404);
  const empty = await app.request("/v1/images/pull", post({}));
  eq(empty.status, 400);
});
