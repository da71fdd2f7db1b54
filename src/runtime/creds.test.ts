import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { recordingSyscalls } from "../../ffi/mod.ts";
import { applyCredentials, capMask } from "./creds.ts";
import type { InitPlan } from "./plan.ts";

const base: InitPlan["process"] = {
  args: ["sh"],
  env: [],
  cwd: "/",
  uid: 1000,
  gid: 1000,
  additionalGids: [10, 20],
  rlimits: [],
  noNewPrivileges: false,
  caps: { bounding: [0, 5, 10], effective: [10], permitted: [10], inheritable: [], ambient: [10] },
};

Deno.test("a non-root user keeps the requested caps across the uid switch, in order", () => {
  const sys = recordingSyscalls();
  applyCredentials(base, 12, sys);
  const seq = sys.calls.map((c) => `${c.name}(${c.args.map(String).join(",")})`);
  assertEquals(seq, [
    "capBoundingDrop(1)",
    "capBoundingDrop(2)",
    "capBoundingDrop(3)",
    "capBoundingDrop(4)",
    "capBoundingDrop(6)",
    "capBoundingDrop(7)",
    "capBoundingDrop(8)",
    "capBoundingDrop(9)",
    "capBoundingDrop(11)",
    "capBoundingDrop(12)",
    "setKeepCaps(true)",
    "setgroups(10,20)",
    "setresgid(1000,1000,1000)",
    "setresuid(1000,1000,1000)",
    "setKeepCaps(false)",
    "capset([object Object])",
    "capAmbientRaise(10)",
  ]);
  assertEquals(sys.named("capset")[0][0], {
    effective: 1024n,
    permitted: 1024n,
    inheritable: 0n,
  });
});

Deno.test("without capabilities in the spec only ids change (the kernel's rules apply)", () => {
  const sys = recordingSyscalls();
  const { caps: _, ...noCaps } = base;
  applyCredentials({ ...noCaps, uid: 0, gid: 0, additionalGids: [] }, 40, sys);
  assertEquals(sys.calls.map((c) => c.name), ["setgroups", "setresgid", "setresuid"]);
  assertEquals(sys.named("setgroups"), [[[]]]);
});

Deno.test("capability masks set one bit per capability, above 31 too", () => {
  assertEquals(capMask([0, 1, 38]), (1n << 38n) | 3n);
});
