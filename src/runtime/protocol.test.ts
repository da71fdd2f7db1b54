import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { PolisError } from "../core/mod.ts";
import { ErrnoError } from "../../ffi/mod.ts";
import { codeOf, failure, parseReport, type SetupResult, type SyncMessage } from "./protocol.ts";

Deno.test("reports round-trip as one JSON line; garbage becomes an internal failure", () => {
  assertEquals(parseReport<SyncMessage>('{"ok":true}\n'), { ok: true });
  assertEquals(parseReport<SetupResult>('{"ok":true,"pid":42}\n'), { ok: true, pid: 42 });
  assertEquals(
    parseReport<SyncMessage>('{"ok":false,"error":"boom","code":"not_found"}\nextra'),
    { ok: false, error: "boom", code: "not_found" },
  );
  assertEquals(parseReport<SyncMessage>('{"ok":false,"error":"x","code":"weird"}').ok, false);
  const bad = parseReport<SyncMessage>("panic: oops");
  assertEquals(bad.ok === false && bad.code, "internal");
});

Deno.test("error categories follow PolisError codes and errno meanings", () => {
  assertEquals(codeOf(PolisError.invalid("x")), "invalid_argument");
  assertEquals(codeOf(new ErrnoError("mount", 22)), "invalid_argument");
  assertEquals(codeOf(new ErrnoError("mount", 1)), "failed_precondition");
  assertEquals(codeOf(new ErrnoError("open", 2)), "not_found");
  assertEquals(codeOf(new ErrnoError("x", 5)), "internal");
  assertEquals(failure(new Error("m")), { ok: false, error: "m", code: "internal" });
});
