import { ok } from "node:assert/strict";
import { GC_EVERY_BYTES, GC_MIN_INTERVAL_MS, noteBytesMoved, setGcPacing } from "./gcpace.ts";

Deno.test("moving GC_EVERY_BYTES collects the dead buffers a pull leaves behind", async () => {
  setGcPacing(true);
  try {
    noteBytesMoved(GC_EVERY_BYTES); // the first call loads V8's gc
    for (let i = 0; i < 512; i++) new Uint8Array(64 * 1024).fill(i); // 32 MiB of garbage
    await new Promise((r) => setTimeout(r, GC_MIN_INTERVAL_MS + 10));
    const before = Deno.memoryUsage().external;
    noteBytesMoved(GC_EVERY_BYTES);
    const after = Deno.memoryUsage().external;
    ok(before - after >= 16 * 1024 * 1024, `external ${before} -> ${after}`);
  } finally {
    setGcPacing(false); // other test files may share this process
  }
});
