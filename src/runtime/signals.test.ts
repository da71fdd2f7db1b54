import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { PolisError } from "../core/mod.ts";
import { parseSignal } from "./signals.ts";

Deno.test("parseSignal accepts names with or without SIG and numbers", () => {
  assertEquals(parseSignal("SIGTERM"), 15);
  assertEquals(parseSignal("TERM"), 15);
  assertEquals(parseSignal("15"), 15);
  assertEquals(parseSignal(9), 9);
  assertEquals(parseSignal("kill"), 9);
  assertEquals(parseSignal("SIGRTMIN+1"), 35);
});

Deno.test("parseSignal refuses unknown names and out-of-range numbers as invalid_argument", () => {
  for (const bad of ["SIGFOO", "0", "65", "", -1, "1.5"]) {
    try {
      parseSignal(bad);
      throw new Error(`accepted ${bad}`);
    } catch (e) {
      assert(e instanceof PolisError && e.code === "invalid_argument", String(e));
      assert(e.message.startsWith("invalid signal"), e.message);
    }
  }
});
