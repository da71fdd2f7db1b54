import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { recordingSyscalls } from "../../ffi/mod.ts";
import { realFs } from "./fsview.ts";
import { realFiles } from "./initenv.ts";
import { loopbackUp, waitForGo } from "./init.ts";

/** An env whose read() returns the given byte strings in turn, then end-of-file. */
function env(...reads: number[][]) {
  const sys = recordingSyscalls({
    read: (_fd: number, buf: Uint8Array) => {
      const next = reads.shift();
      if (!next) return 0;
      buf.set(next);
      return next.length;
    },
  });
  return { sys, fs: realFs, files: realFiles };
}

Deno.test("without a go pipe the init goes on at once and reads nothing", () => {
  const e = env();
  assertEquals(waitForGo(e, undefined), "");
  assertEquals(e.sys.calls, []);
});

Deno.test("with a go pipe the init waits for the go byte and end-of-file, then closes it", () => {
  const e = env([1]);
  assertEquals(waitForGo(e, "4"), "");
  assertEquals(e.sys.calls.map((c) => [c.name, c.args[0]]), [
    ["setCloexec", 4],
    ["read", 4],
    ["read", 4],
    ["close", 4],
  ]);
});

Deno.test("a spare init gets its state dir after the go byte, in any number of reads", () => {
  const dir = new TextEncoder().encode("/run/polis/runtime/abc");
  assertEquals(
    waitForGo(env([1, ...dir.subarray(0, 5)], [...dir.subarray(5)]), "4"),
    "/run/polis/runtime/abc",
  );
});

Deno.test("end-of-file on the go pipe means the caller gave up", () => {
  assertEquals(waitForGo(env(), "4"), null);
  assertEquals(waitForGo(env([0]), "4"), null);
});

Deno.test("the init brings lo up in a network namespace made for it, not in a joined one", () => {
  const fresh = env();
  loopbackUp({ namespaces: [{ type: "pid" }, { type: "network" }] }, fresh);
  assertEquals(fresh.sys.named("interfaceUp"), [["lo"]]);
  const joined = env();
  loopbackUp({ namespaces: [{ type: "network", path: "/proc/1/ns/net" }] }, joined);
  const host = env();
  loopbackUp({ namespaces: [{ type: "pid" }, { type: "mount" }] }, host);
  assertEquals([...joined.sys.calls, ...host.sys.calls], []);
});
