import { deepStrictEqual as assertEquals, ok, rejects } from "node:assert/strict";
import { gzipSync, zstdCompressSync } from "node:zlib";
import { decompressed } from "./tar.ts";

async function drain(s: ReadableStream<Uint8Array>): Promise<{ total: number; biggest: number }> {
  let total = 0;
  let biggest = 0;
  for await (const c of s) {
    total += c.byteLength;
    biggest = Math.max(biggest, c.byteLength);
  }
  return { total, biggest };
}

const zeros = new Uint8Array(48 * 1024 * 1024);

for (
  const [kind, pack] of [
    ["gzip", (b: Uint8Array) => gzipSync(b)],
    ["zstd", (b: Uint8Array) => zstdCompressSync(b)],
  ] as const
) {
  Deno.test(`a ${kind} bomb inflates in 64 KiB pieces, never as one huge chunk`, async () => {
    const packed = new Uint8Array(pack(zeros));
    // One read of all the compressed bytes: a whole-chunk inflater would answer 48 MiB at once.
    const input = new Blob([packed as Uint8Array<ArrayBuffer>]).stream();
    const { total, biggest } = await drain(await decompressed(input, "layer x"));
    assertEquals(total, zeros.byteLength);
    ok(biggest <= 64 * 1024, `a chunk of ${biggest} bytes`);
  });
}

Deno.test("a truncated gzip stream fails instead of ending early", async () => {
  const packed = new Uint8Array(gzipSync(new TextEncoder().encode("x".repeat(100_000))));
  const input = new Blob([packed.subarray(0, packed.byteLength - 10) as Uint8Array<ArrayBuffer>])
    .stream();
  await rejects(async () => await drain(await decompressed(input, "layer x")));
});
