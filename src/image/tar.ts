/**
 * Streaming tar reading over web streams, on top of the npm `tar-stream`
 * parser: entries arrive one at a time with their bodies as streams, so no
 * layer is ever held in memory. Also detects and strips gzip compression by
 * its magic bytes.
 * @module
 */

import { Buffer } from "node:buffer";
import type { Transform } from "node:stream";
import { createGunzip, createZstdDecompress } from "node:zlib";
import tar from "tar-stream";
import { PolisError } from "../core/errors.ts";

export type TarHeader = tar.Header;

export interface TarEntry {
  header: TarHeader;
  /** The entry's bytes; read it fully or not at all (the reader skips the rest). */
  body: AsyncIterable<Uint8Array>;
}

/** Compression formats recognised by their first bytes. */
export type Compression = "none" | "gzip" | "zstd" | "bzip2" | "xz";

export function detectCompression(head: Uint8Array): Compression {
  const b = head;
  if (b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b) return "gzip";
  if (b.length >= 4 && b[0] === 0x28 && b[1] === 0xb5 && b[2] === 0x2f && b[3] === 0xfd) {
    return "zstd";
  }
  if (b.length >= 3 && b[0] === 0x42 && b[1] === 0x5a && b[2] === 0x68) return "bzip2";
  if (b.length >= 6 && b[0] === 0xfd && b[1] === 0x37 && b[2] === 0x7a && b[3] === 0x58) {
    return "xz";
  }
  return "none";
}

/** Reads the first bytes of a stream, returning them and a stream that still starts with them. */
async function peek(
  input: ReadableStream<Uint8Array>,
  want: number,
): Promise<[Uint8Array, ReadableStream<Uint8Array>]> {
  const reader = input.getReader();
  const chunks: Uint8Array[] = [];
  let have = 0;
  let done = false;
  while (have < want) {
    const r = await reader.read();
    if (r.done) {
      done = true;
      break;
    }
    chunks.push(r.value);
    have += r.value.byteLength;
  }
  const head = new Uint8Array(have);
  let off = 0;
  for (const c of chunks) {
    head.set(c, off);
    off += c.byteLength;
  }
  const rest = new ReadableStream<Uint8Array>({
    start(controller) {
      if (head.byteLength > 0) controller.enqueue(head);
      if (done) controller.close();
    },
    async pull(controller) {
      const r = await reader.read();
      if (r.done) controller.close();
      else controller.enqueue(r.value);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
  return [head, rest];
}

/**
 * Returns the uncompressed stream: gzip and zstd are inflated; bzip2 and xz
 * are refused with a clear message naming `what`.
 */
export async function decompressed(
  input: ReadableStream<Uint8Array>,
  what: string,
): Promise<ReadableStream<Uint8Array>> {
  const [head, stream] = await peek(input, 6);
  const kind = detectCompression(head);
  switch (kind) {
    case "none":
      return stream;
    case "gzip":
      return inflateBounded(stream, createGunzip({ chunkSize: OUT_CHUNK }));
    case "zstd":
      return inflateBounded(stream, createZstdDecompress({ chunkSize: OUT_CHUNK }));
    default:
      await stream.cancel();
      throw PolisError.invalid(`${what}: ${kind}-compressed content is not supported`);
  }
}

/** Compressed bytes handed to the inflater at once (see `inflateBounded`). */
const IN_SLICE = 16 * 1024;
const OUT_CHUNK = 64 * 1024;

/**
 * Inflates `input` through a node:zlib transform, pulled by the consumer. Whole-chunk
 * decompressors (the web DecompressionStream) turn one 64 KiB read of highly
 * compressible data into one array of many megabytes; here the compressed bytes go in
 * 16 KiB at a time, and the next slice only when the consumer has taken all the output
 * of the last, so what is held is bounded by one slice's expansion, in 64 KiB pieces.
 */
function inflateBounded(
  input: ReadableStream<Uint8Array>,
  z: Transform,
): ReadableStream<Uint8Array> {
  const reader = input.getReader();
  const out: Uint8Array[] = [];
  let failure: unknown;
  let ended = false;
  let wake: (() => void) | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  z.on("data", (b: Buffer) => out.push(new Uint8Array(b.buffer, b.byteOffset, b.byteLength)));
  z.on("end", () => {
    ended = true;
    notify();
  });
  z.on("error", (e: unknown) => {
    failure ??= e;
    notify();
  });
  let pending: Uint8Array = new Uint8Array(0);
  let inputDone = false;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      for (;;) {
        if (out.length > 0) return controller.enqueue(out.shift()!);
        if (failure !== undefined) throw failure;
        if (ended) return controller.close();
        if (pending.byteLength === 0 && !inputDone) {
          const r = await reader.read();
          if (r.done) inputDone = true;
          else pending = r.value;
        }
        const step = new Promise<void>((resolve) => (wake = resolve));
        if (pending.byteLength > 0) {
          const slice = pending.subarray(0, IN_SLICE);
          pending = pending.subarray(slice.byteLength);
          z.write(Buffer.from(slice.buffer, slice.byteOffset, slice.byteLength), notify);
        } else if (inputDone) {
          z.end();
        }
        await step;
      }
    },
    cancel(reason) {
      z.destroy();
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
}

/**
 * Iterates the entries of a tar stream. `onChunk` sees every input byte
 * (including padding and the end-of-archive blocks), e.g. to hash it.
 * Breaking out of the loop or throwing stops reading and cancels the input.
 */
export async function* readTar(
  input: ReadableStream<Uint8Array>,
  onChunk?: (chunk: Uint8Array) => void,
  what = "archive",
): AsyncGenerator<TarEntry> {
  const extract = tar.extract();
  const reader = input.getReader();
  let stopped = false;
  const feeding = (async () => {
    try {
      while (!stopped) {
        const r = await reader.read();
        if (r.done) break;
        onChunk?.(r.value);
        const buf = Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength);
        if (!extract.write(buf)) {
          await new Promise<void>((resolve) => {
            const done = () => {
              extract.off("drain", done);
              extract.off("close", done);
              resolve();
            };
            extract.on("drain", done);
            extract.on("close", done);
          });
        }
      }
      if (!stopped) extract.end(null);
    } catch (e) {
      extract.destroy(e as Error);
    }
  })();
  let finished = false;
  try {
    for await (const entry of extract) {
      yield { header: entry.header, body: entry as AsyncIterable<Uint8Array> };
      // Skip whatever the consumer left unread so the parser can move on.
      for await (const _ of entry as AsyncIterable<Uint8Array>) {
        // discard
      }
    }
    finished = true;
  } catch (e) {
    throw e instanceof PolisError ? e : PolisError.invalid(`${what}: malformed tar: ${errText(e)}`);
  } finally {
    stopped = true;
    if (!finished) {
      extract.destroy();
      await reader.cancel().catch(() => {});
    }
    await feeding;
    // Keep reading to the end when the archive ended early, so a hash sees all bytes.
    if (finished && onChunk) {
      for (;;) {
        const r = await reader.read().catch(() => ({ done: true, value: undefined }));
        if (r.done) break;
        onChunk(r.value!);
      }
    }
  }
}

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
