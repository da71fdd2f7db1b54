import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { recordingSyscalls } from "../../ffi/mod.ts";
import { realFs } from "./fsview.ts";
import { realFiles } from "./initenv.ts";
import { loopbackUp, waitForGo } from "./init.ts";

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

Deno.test("the init brings lo up in a network namespace made for it, not in a joined one", () => {
  const fresh = env(0);
  loopbackUp({ namespaces: [{ type: "pid" }, { type: "network" }] }, fresh);
  assertEquals(fresh.sys.named("interfaceUp"), [["lo"]]);
  const joined = env(0);
  loopbackUp({ namespaces: [{ type: "network", path: "/proc/1/ns/net" }] }, joined);
  const host = env(0);
  loopbackUp({ namespaces: [{ type: "pid" }, { type: "mount" }] }, host);
  assertEquals([...joined.sys.calls, ...host.sys.calls], []);
});
