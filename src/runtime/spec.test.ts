import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { PolisError } from "../core/mod.ts";
import { formatPath, parseSpec } from "./spec.ts";

function valid(): Record<string, unknown> {
  return {
    ociVersion: "1.2.0",
    process: { user: { uid: 0, gid: 0 }, args: ["sh"], cwd: "/" },
    root: { path: "rootfs" },
  };
}

function refusal(raw: unknown): string {
  try {
    parseSpec(raw);
  } catch (e) {
    assert(e instanceof PolisError && e.code === "invalid_argument", String(e));
    return e.message;
  }
  throw new Error("accepted an invalid spec");
}

Deno.test("a minimal spec is accepted and unknown fields are ignored", () => {
  const s = parseSpec({ ...valid(), vendorThing: { x: 1 } });
  assertEquals(s.process.args, ["sh"]);
});

Deno.test("empty process.args is refused naming its JSON path", () => {
  const raw = valid();
  (raw.process as Record<string, unknown>).args = [];
  assertEquals(
    refusal(raw),
    "invalid bundle config.json: process.args: must be a non-empty array",
  );
});

Deno.test("a missing required object is refused as required", () => {
  const raw = valid();
  delete raw.root;
  assertEquals(refusal(raw), "invalid bundle config.json: root: is required (an object with path)");
});

Deno.test("faults inside arrays name the index", () => {
  const raw = { ...valid(), mounts: [{ destination: "/a" }, { destination: 5 }] };
  assert(
    refusal(raw).startsWith("invalid bundle config.json: mounts[1].destination: must be a string"),
  );
  const caps = valid();
  (caps.process as Record<string, unknown>).capabilities = { bounding: ["CAP_CHOWN", "CAP_NOPE"] };
  assertEquals(
    refusal(caps),
    'invalid bundle config.json: process.capabilities.bounding[1]: unknown capability "CAP_NOPE"',
  );
});

Deno.test("wrong types, bad env entries, relative cwd and bad rlimits are refused", () => {
  const p = (patch: Record<string, unknown>) => ({
    ...valid(),
    process: { ...(valid().process as Record<string, unknown>), ...patch },
  });
  assert(
    refusal(p({ env: ["NOEQUALS"] })).includes('process.env[0]: must have the form "KEY=value"'),
  );
  assert(refusal(p({ cwd: "rel" })).includes("process.cwd: must be an absolute path"));
  assert(
    refusal(p({ user: { uid: -1, gid: 0 } })).includes(
      "process.user.uid: must be a non-negative integer",
    ),
  );
  assert(
    refusal(p({ rlimits: [{ type: "RLIMIT_NOFILE", soft: 10, hard: 5 }] })).includes(
      "process.rlimits[0]: soft limit must not exceed the hard limit",
    ),
  );
  assert(
    refusal(p({ rlimits: [{ type: "RLIMIT_BOGUS", soft: 1, hard: 1 }] })).includes(
      'process.rlimits[0].type: unknown rlimit "RLIMIT_BOGUS"',
    ),
  );
  assert(
    refusal({ ...valid(), ociVersion: "2.0.0" }).includes("ociVersion: must be a 1.x version"),
  );
  assert(
    refusal({ ...valid(), linux: { namespaces: [{ type: "bogus" }] } }).includes(
      "linux.namespaces[0].type: must be one of",
    ),
  );
});

Deno.test("JSON paths render dotted keys and bracketed indices", () => {
  assertEquals(formatPath(["mounts", 2, "destination"]), "mounts[2].destination");
  assertEquals(formatPath([]), "(root)");
});
