import { ok } from "node:assert/strict";
import { GC_EVERY_BYTES, noteBytesMoved } from "./gcpace.ts";

Deno.test("moving GC_EVERY_BYTES collects the dead buffers a pull leaves behind", () => {
  noteBytesMoved(GC_EVERY_BYTES); // the first call loads V8's gc
  for (let i = 0; i < 512; i++) new Uint8Array(64 * 1024).fill(i); // 32 MiB of garbage
  const before = Deno.memoryUsage().external;
  noteBytesMoved(GC_EVERY_BYTES);
  const after = Deno.memoryUsage().external;
  ok(before - after >= 16 * 1024 * 1024, `external ${before} -> ${after}`);
});
