/**
 * Reads a layer (a tar, plain, gzip or zstd) with a few fixed buffers used again for
 * every chunk: the compressed bytes go into one, the inflater writes straight into the
 * tar reader's, and file contents are handed on as views of it. A pull then makes no
 * garbage per chunk; fresh arrays for every 64 KiB, dead at once, would pile up to tens
 * of MiB before V8 collects them (its trigger is the bytes held outside its heap).
 *
 * Every view handed out is valid only until the next read: consume it (write it) first.
 *
 * @example
 * ```ts
 * const tar = await openLayer(stream, "layer sha256:…");
 * for await (const e of tar.entries()) for await (const chunk of e.body) await write(chunk);
 * console.log(tar.digest()); // sha256 of the uncompressed tar: the diff id
 * ```
 * @module
 */

import { createHash } from "node:crypto";
import { createGunzip, createZstdDecompress } from "node:zlib";
import { PolisError } from "../core/errors.ts";
import { detectCompression, type TarEntry, type TarHeader } from "./tar.ts";

/** Bytes into the caller's buffer; null at the end. */
export interface ByteReader {
  read(into: Uint8Array): Promise<number | null>;
  cancel(): Promise<void>;
}

const CHUNK = 64 * 1024;
const BLOCK = 512;
/** Bound on a PAX or GNU long-name record, as tar-stream has. */
const MAX_LONG_HEADER = 4 * 1024 * 1024;

/** A stream as a ByteReader: BYOB reads straight into the buffer where the stream allows. */
export function byteReaderOf(stream: ReadableStream<Uint8Array>): ByteReader {
  let byob: ReadableStreamBYOBReader | undefined;
  try {
    byob = stream.getReader({ mode: "byob" });
  } catch {
    // a plain stream: copy from its chunks
  }
  if (byob) {
    const r = byob;
    // A BYOB read moves the buffer it fills, so it fills a scratch buffer of ours (handed
    // back each time), whole, and the bytes are copied on from there: the caller's buffer
    // stays its own, and nothing new is made per read.
    let scratch = new Uint8Array(CHUNK);
    let rest = scratch.subarray(0, 0);
    return {
      async read(into) {
        if (rest.byteLength === 0) {
          const res = await r.read(scratch);
          if (res.value) scratch = new Uint8Array(res.value.buffer);
          if (res.done) return null;
          rest = res.value;
        }
        const n = Math.min(into.byteLength, rest.byteLength);
        into.set(rest.subarray(0, n));
        rest = rest.subarray(n);
        return n;
      },
      cancel: () => r.cancel().catch(() => {}),
    };
  }
  const reader = stream.getReader();
  let rest: Uint8Array | undefined;
  return {
    async read(into) {
      while (!rest || rest.byteLength === 0) {
        const r = await reader.read();
        if (r.done) return null;
        rest = r.value;
      }
      const n = Math.min(into.byteLength, rest.byteLength);
      into.set(rest.subarray(0, n));
      rest = rest.subarray(n);
      return n;
    },
    cancel: () => reader.cancel().catch(() => {}),
  };
}

// zlib flush values
const Z_NO_FLUSH = 0;
const Z_FINISH = 4;

interface ZHandle {
  writeSync(
    flush: number,
    input: Uint8Array,
    inOff: number,
    inLen: number,
    out: Uint8Array,
    outOff: number,
    outLen: number,
  ): void;
  onerror?: (message: string, errno: number) => void;
}

/**
 * Inflates through node:zlib's handle, the engine under its streams, called directly so
 * output goes into the caller's buffer. Undefined when that handle is not there (the
 * caller then falls back to the stream).
 */
function zlibReader(
  kind: "gzip" | "zstd",
  src: ByteReader,
  head: Uint8Array,
  what: string,
): ByteReader | undefined {
  const z = (kind === "gzip" ? createGunzip() : createZstdDecompress()) as unknown as {
    _handle?: ZHandle;
    _writeState?: Uint32Array;
    close(): void;
  };
  const h = z._handle;
  const state = z._writeState;
  if (!h || typeof h.writeSync !== "function" || !(state instanceof Uint32Array)) {
    z.close();
    return undefined;
  }
  let failure: Error | undefined;
  h.onerror = (message) => {
    failure ??= new Error(message);
  };
  const input = new Uint8Array(CHUNK);
  input.set(head);
  let inOff = 0;
  let inLen = head.byteLength;
  let inputDone = false;
  let finished = false;
  const close = () => {
    if (finished) return;
    finished = true;
    try {
      z.close();
    } catch {
      // closed
    }
  };
  return {
    async read(into) {
      if (finished) return null;
      for (;;) {
        if (inLen === 0 && !inputDone) {
          const n = await src.read(input);
          if (n === null) inputDone = true;
          else {
            inOff = 0;
            inLen = n;
          }
        }
        h.writeSync(inputDone ? Z_FINISH : Z_NO_FLUSH, input, inOff, inLen, into, 0, into.length);
        if (failure) {
          close();
          throw PolisError.invalid(`${what}: ${kind}: ${failure.message}`);
        }
        const produced = into.length - state[0];
        const left = state[1];
        inOff += inLen - left;
        inLen = left;
        if (produced > 0) return produced;
        if (inputDone && inLen === 0) {
          close();
          return null;
        }
        // Nothing out and input left that the inflater will not take: bytes after the end.
        if (inputDone && left > 0) {
          close();
          return null;
        }
      }
    },
    async cancel() {
      close();
      await src.cancel();
    },
  };
}

/** The uncompressed bytes of a layer stream, and what it was compressed with. */
export async function openLayer(
  input: ReadableStream<Uint8Array>,
  what: string,
  fallback: (input: ReadableStream<Uint8Array>) => Promise<ReadableStream<Uint8Array>>,
): Promise<TarReader> {
  const src = byteReaderOf(input);
  const head = new Uint8Array(6);
  let have = 0;
  while (have < head.length) {
    const n = await src.read(head.subarray(have));
    if (n === null) break;
    have += n;
  }
  const first = head.subarray(0, have);
  const kind = detectCompression(first);
  if (kind === "none") return new TarReader(prefixed(first, src), what);
  if (kind === "gzip" || kind === "zstd") {
    const z = zlibReader(kind, src, first, what);
    if (z) return new TarReader(z, what);
  }
  // Not inflatable here (bzip2, xz: refused with the stream path's message), or no handle.
  const rest = new ReadableStream<Uint8Array>({
    start(c) {
      if (first.byteLength > 0) c.enqueue(first.slice());
    },
    async pull(c) {
      const buf = new Uint8Array(CHUNK);
      const n = await src.read(buf);
      if (n === null) c.close();
      else c.enqueue(buf.subarray(0, n));
    },
    cancel: () => src.cancel(),
  }, { highWaterMark: 0 });
  return new TarReader(byteReaderOf(await fallback(rest)), what);
}

/** `head` (already read), then the rest of `src`. */
function prefixed(head: Uint8Array, src: ByteReader): ByteReader {
  let pending = head.byteLength > 0 ? head : undefined;
  return {
    read(into) {
      if (pending) {
        const n = Math.min(into.byteLength, pending.byteLength);
        into.set(pending.subarray(0, n));
        pending = n < pending.byteLength ? pending.subarray(n) : undefined;
        return Promise.resolve(n);
      }
      return src.read(into);
    },
    cancel: () => src.cancel(),
  };
}

const decoder = new TextDecoder();

/**
 * A tar reader over one buffer. Entries come one at a time; an entry's body is views of
 * the buffer, each valid until the next is asked for. Every byte read (padding and the
 * end-of-archive blocks and whatever follows them included) goes through sha256.
 */
export class TarReader {
  readonly #src: ByteReader;
  readonly #what: string;
  readonly #buf = new Uint8Array(CHUNK);
  #pos = 0;
  #end = 0;
  #eof = false;
  readonly #hash = createHash("sha256");
  #size = 0;

  constructor(src: ByteReader, what: string) {
    this.#src = src;
    this.#what = what;
  }

  /** sha256 of every uncompressed byte; read to the end first (`entries` does). */
  digest(): string {
    return `sha256:${this.#hash.digest("hex")}`;
  }

  /** Uncompressed bytes read so far. */
  get size(): number {
    return this.#size;
  }

  cancel(): Promise<void> {
    return this.#src.cancel();
  }

  /** Reads more into the buffer (compacting first when `keep` bytes must stay together). */
  async #fill(): Promise<boolean> {
    if (this.#eof) return false;
    if (this.#pos === this.#end) {
      this.#pos = this.#end = 0;
    } else if (this.#end === this.#buf.length) {
      this.#buf.copyWithin(0, this.#pos, this.#end);
      this.#end -= this.#pos;
      this.#pos = 0;
    }
    const n = await this.#src.read(this.#buf.subarray(this.#end));
    if (n === null) {
      this.#eof = true;
      return false;
    }
    const fresh = this.#buf.subarray(this.#end, this.#end + n);
    this.#hash.update(fresh);
    this.#size += n;
    this.#end += n;
    return true;
  }

  /** The next `n` (≤ the buffer) bytes as one view; undefined at a clean end. */
  async #take(n: number): Promise<Uint8Array | undefined> {
    while (this.#end - this.#pos < n) {
      if (this.#pos > 0 && this.#buf.length - this.#pos < n) {
        this.#buf.copyWithin(0, this.#pos, this.#end);
        this.#end -= this.#pos;
        this.#pos = 0;
      }
      if (!(await this.#fill())) {
        if (this.#end === this.#pos) return undefined;
        throw this.#malformed("unexpected end of data");
      }
    }
    const v = this.#buf.subarray(this.#pos, this.#pos + n);
    this.#pos += n;
    return v;
  }

  async #skip(n: number): Promise<void> {
    while (n > 0) {
      if (this.#pos === this.#end && !(await this.#fill())) {
        throw this.#malformed("unexpected end of data");
      }
      const k = Math.min(n, this.#end - this.#pos);
      this.#pos += k;
      n -= k;
    }
  }

  /** An entry's bytes; `left` tracks what is still unread, for the reader to skip. */
  async *#body(left: { n: number }): AsyncGenerator<Uint8Array> {
    while (left.n > 0) {
      if (this.#pos === this.#end && !(await this.#fill())) {
        throw this.#malformed("unexpected end of data");
      }
      const k = Math.min(left.n, this.#end - this.#pos);
      const v = this.#buf.subarray(this.#pos, this.#pos + k);
      this.#pos += k;
      left.n -= k;
      yield v;
    }
  }

  /** Reads a long header's data (PAX records, GNU long names) into its own array. */
  async #readAll(size: number): Promise<Uint8Array> {
    if (size > MAX_LONG_HEADER) throw this.#malformed("Header exceeds max size");
    const out = new Uint8Array(size);
    let off = 0;
    for await (const c of this.#body({ n: size })) {
      out.set(c, off);
      off += c.byteLength;
    }
    await this.#skip(pad(size));
    return out;
  }

  #malformed(why: string): PolisError {
    return PolisError.invalid(`${this.#what}: malformed tar: ${why}`);
  }

  /** The entries, then the rest of the input (hashed, as the diff id covers it). */
  async *entries(): AsyncGenerator<TarEntry> {
    let ok = false;
    try {
      let pax: Record<string, string> | null = null;
      let paxGlobal: Record<string, string> | null = null;
      let longPath: string | null = null;
      let longLink: string | null = null;
      for (;;) {
        const block = await this.#take(BLOCK);
        if (!block) break;
        const header = this.#decode(block);
        if (!header) continue; // a zero block: tar-stream reads on past it too
        const size = header.size ?? 0;
        switch (header.type as string | null) {
          case "pax-header":
            pax = { ...paxGlobal, ...decodePax(await this.#readAll(size)) };
            continue;
          case "pax-global-header":
            paxGlobal = decodePax(await this.#readAll(size));
            continue;
          case "gnu-long-path":
            longPath = cString(await this.#readAll(size));
            continue;
          case "gnu-long-link-path":
            longLink = cString(await this.#readAll(size));
            continue;
        }
        if (longPath !== null) header.name = longPath;
        if (longLink !== null) header.linkname = longLink;
        longPath = longLink = null;
        if (pax) {
          if (pax.path) header.name = pax.path;
          if (pax.linkpath) header.linkname = pax.linkpath;
          if (pax.size) header.size = parseInt(pax.size, 10);
          header.pax = pax;
          pax = null;
        }
        const n = header.type === "directory" ? 0 : header.size ?? 0;
        if (!(n >= 0)) throw this.#malformed("Invalid header");
        const left = { n };
        yield { header, body: this.#body(left) };
        // Whatever the consumer left unread, then the padding.
        await this.#skip(left.n + pad(n));
      }
      // After the end-of-archive blocks: hash whatever else there is.
      this.#pos = this.#end;
      while (await this.#fill()) this.#pos = this.#end;
      ok = true;
    } finally {
      if (!ok) await this.#src.cancel();
    }
  }

  #decode(b: Uint8Array): TarHeader | null {
    let sum = 8 * 32;
    for (let i = 0; i < 148; i++) sum += b[i];
    for (let i = 156; i < BLOCK; i++) sum += b[i];
    if (sum === 8 * 32) return null;
    if (sum !== octal(b, 148, 8)) {
      throw this.#malformed(
        "Invalid tar header. Maybe the tar is corrupted or it needs to be gunzipped?",
      );
    }
    let name = str(b, 0, 100);
    const magic = decoder.decode(b.subarray(257, 263));
    const version = decoder.decode(b.subarray(263, 265));
    if (magic === "ustar\0") {
      if (b[345]) name = `${str(b, 345, 155)}/${name}`;
    } else if (!(magic === "ustar " && version === " \0")) {
      throw this.#malformed("Invalid tar header: unknown format.");
    }
    let flag = b[156] === 0 ? 0 : b[156] - 48;
    if (flag === 0 && name.endsWith("/")) flag = 5;
    return {
      name,
      mode: octal(b, 100, 8) ?? 0,
      uid: octal(b, 108, 8) ?? 0,
      gid: octal(b, 116, 8) ?? 0,
      size: octal(b, 124, 12) ?? 0,
      mtime: new Date(1000 * (octal(b, 136, 12) ?? 0)),
      type: TYPES[flag] ?? null,
      linkname: b[157] === 0 ? null : str(b, 157, 100),
      uname: str(b, 265, 32),
      gname: str(b, 297, 32),
      devmajor: octal(b, 329, 8) ?? 0,
      devminor: octal(b, 337, 8) ?? 0,
      pax: null,
    } as TarHeader;
  }
}

const TYPES: Record<number, string> = {
  0: "file",
  1: "link",
  2: "symlink",
  3: "character-device",
  4: "block-device",
  5: "directory",
  6: "fifo",
  7: "contiguous-file",
  72: "pax-header", // 'x'
  55: "pax-global-header", // 'g'
  27: "gnu-long-link-path", // 'K'
  28: "gnu-long-path", // 'L'
  30: "gnu-long-path", // 'N' (old GNU)
};

function pad(n: number): number {
  return (BLOCK - (n % BLOCK)) % BLOCK;
}

/** A NUL-terminated field as UTF-8. */
function str(b: Uint8Array, off: number, len: number): string {
  let end = off;
  while (end < off + len && b[end] !== 0) end++;
  return decoder.decode(b.subarray(off, end));
}

function cString(b: Uint8Array): string {
  const nul = b.indexOf(0);
  return decoder.decode(nul === -1 ? b : b.subarray(0, nul));
}

/** An octal field (leading spaces or NULs allowed), or base-256 when its top bit is set. */
function octal(b: Uint8Array, off: number, len: number): number | null {
  const f = b.subarray(off, off + len);
  if (f[0] & 0x80) {
    const positive = f[0] === 0x80;
    if (!positive && f[0] !== 0xff) return null;
    let n = 0;
    for (let i = 1; i < f.length; i++) n = n * 256 + (positive ? f[i] : 0xff - f[i]);
    return positive ? n : -1 - n;
  }
  let i = 0;
  while (i < f.length && f[i] === 32) i++;
  let end = f.indexOf(32, i);
  if (end === -1) end = f.length;
  while (i < end && f[i] === 0) i++;
  if (i === end) return 0;
  return parseInt(decoder.decode(f.subarray(i, end)), 8);
}

/** PAX records: "<len> <key>=<value>\n", as many as there are. */
function decodePax(b: Uint8Array): Record<string, string> {
  const out: Record<string, string> = {};
  let rest = b;
  while (rest.length) {
    let i = 0;
    while (i < rest.length && rest[i] !== 32) i++;
    const len = parseInt(decoder.decode(rest.subarray(0, i)), 10);
    if (!len) return out;
    const rec = decoder.decode(rest.subarray(i + 1, len - 1));
    const eq = rec.indexOf("=");
    if (eq === -1) return out;
    out[rec.slice(0, eq)] = rec.slice(eq + 1);
    rest = rest.subarray(len);
  }
  return out;
}
