import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { recordingSyscalls } from "../../ffi/mod.ts";
import { realFs } from "./fsview.ts";
import { realFiles } from "./initenv.ts";
import { waitForGo } from "./init.ts";

function env(readReturns: number) {
  const sys = recordingSyscalls({ read: () => readReturns });
  return { sys, fs: realFs, files: realFiles };
}

Deno.test("without a go pipe the init goes on at once and reads nothing", () => {
  const e = env(0);
  assertEquals(waitForGo(e, undefined), true);
  assertEquals(e.sys.calls, []);
});

Deno.test("with a go pipe the init waits for one byte on it, then closes it", () => {
  const e = env(1);
  assertEquals(waitForGo(e, "4"), true);
  assertEquals(e.sys.calls.map((c) => [c.name, c.args[0]]), [
    ["setCloexec", 4],
    ["read", 4],
    ["close", 4],
  ]);
});

Deno.test("end-of-file on the go pipe means the caller gave up", () => {
  assertEquals(waitForGo(env(0), "4"), false);
});
