/**
 * The content-addressed blob store: `<root>/blobs/sha256/<hex>`. Split into
 * roles, containerd-style, so a caller asks for the narrowest one: the
 * registry client needs only `BlobIngester`, rootfs code only `BlobReader`.
 * Every blob is hashed while it streams to a temp file; only a verified,
 * fsync'ed file is renamed under its digest, so a crash never leaves a blob
 * whose content does not match its name.
 *
 * @example
 * ```ts
 * const store = new BlobStore("/var/lib/polis");
 * const { digest } = await store.ingest(stream, { expected: "sha256:…" });
 * const bytes = await store.open(digest);
 * ```
 * @module
 */

import { createHash, type Hash } from "node:crypto";
import { PolisError } from "../core/errors.ts";
import { fsyncDirSync, removeIfExistsSync } from "../core/fs.ts";
import { followBlob, type FollowOptions, type Growth } from "./follow.ts";

export interface BlobInfo {
  digest: string;
  size: number;
}

export interface IngestOptions {
  /** The digest the content must have; ingest fails (storing nothing) when it differs. */
  expected?: string;
  /** The size the content must have, when known (a manifest descriptor's size). */
  size?: number;
  /** What the blob is, for error messages ("layer", "config"). */
  label?: string;
}

export interface IngestResult extends BlobInfo {
  /** False when the store already held this blob. */
  created: boolean;
}

/** Reads blobs that are in the store. */
export interface BlobReader {
  has(digest: string): boolean;
  stat(digest: string): BlobInfo | undefined;
  /** A stream of the blob's bytes; throws not_found when absent. */
  open(digest: string): Promise<ReadableStream<Uint8Array>>;
  /** The whole blob, for small JSON blobs (configs, manifests). */
  readBytes(digest: string): Uint8Array;
}

/** Adds blobs, verifying their digest while they stream. */
export interface BlobIngester {
  ingest(content: ReadableStream<Uint8Array>, opts?: IngestOptions): Promise<IngestResult>;
}

/** Where a resumable download gets its bytes from `offset` on. */
export type RangeOpener = (
  offset: number,
) => Promise<{ body: ReadableStream<Uint8Array>; offset: number }>;

export interface DownloadOptions extends IngestOptions {
  /** Called with the bytes held so far (resumed prefix included) as the download grows. */
  onProgress?: (current: number) => void;
  /**
   * Called with the partial file's length after every write to it (and after it is cut
   * back to the prefix being resumed), so a reader can follow it (see follow.ts).
   */
  onWritten?: (length: number) => void;
  /** Stops the download (between chunks); the partial file is kept. */
  signal?: AbortSignal;
}

/**
 * Adds a blob from a source that can restart at an offset (an HTTP Range). The bytes
 * received so far are kept in a partial file named by the digest, which survives errors
 * and restarts, so the next attempt asks only for the rest.
 */
export interface BlobDownloader {
  download(expected: string, open: RangeOpener, opts?: DownloadOptions): Promise<IngestResult>;
  /**
   * The blob's bytes as a download of it grows (its `onWritten` feeding `growth`): read
   * from the partial file, then from the blob once it is in the store.
   */
  follow(digest: string, growth: Growth, opts?: FollowOptions): ReadableStream<Uint8Array>;
}

/** Lists what the store holds. */
export interface BlobLister {
  list(): BlobInfo[];
}

const SHA256 = /^sha256:([a-f0-9]{64})$/;

/** The hex part of a sha256 digest; invalid_argument for anything else. */
export function digestHex(digest: string): string {
  const m = SHA256.exec(digest);
  if (!m) throw PolisError.invalid(`unsupported or malformed digest "${digest}"`);
  return m[1];
}

export function isDigest(s: string): boolean {
  return SHA256.test(s);
}

export function sha256Hex(data: Uint8Array | string): string {
  return createHash("sha256").update(data).digest("hex");
}

/** Feeds a stream through a hash (and an optional sink), returning digest and size. */
export async function hashStream(
  content: ReadableStream<Uint8Array>,
  sink?: (chunk: Uint8Array) => Promise<void>,
): Promise<BlobInfo> {
  const hash: Hash = createHash("sha256");
  let size = 0;
  for await (const chunk of content) {
    hash.update(chunk);
    size += chunk.byteLength;
    if (sink) await sink(chunk);
  }
  return { digest: `sha256:${hash.digest("hex")}`, size };
}

function randomSuffix(): string {
  return crypto.randomUUID().slice(0, 8);
}

export class BlobStore implements BlobReader, BlobIngester, BlobDownloader, BlobLister {
  readonly dir: string;
  readonly tmpDir: string;
  /** Partial downloads, kept across restarts (the open-time sweep leaves them alone). */
  readonly downloadsDir: string;
  /** Downloads under way in this process, by digest: a second caller joins the first. */
  readonly #downloads = new Map<string, Promise<IngestResult>>();

  /** `root` is the engine root; blobs go to `<root>/blobs/sha256`, temp files to `<root>/tmp`. */
  constructor(root: string) {
    this.dir = `${root}/blobs/sha256`;
    this.tmpDir = `${root}/tmp`;
    this.downloadsDir = `${root}/downloads`;
    Deno.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    Deno.mkdirSync(this.tmpDir, { recursive: true, mode: 0o700 });
    Deno.mkdirSync(this.downloadsDir, { recursive: true, mode: 0o700 });
  }

  /** The partial file of a download of `digest`. */
  partialPath(digest: string): string {
    return `${this.downloadsDir}/${digestHex(digest)}.partial`;
  }

  follow(digest: string, growth: Growth, opts?: FollowOptions): ReadableStream<Uint8Array> {
    return followBlob([this.partialPath(digest), this.path(digest)], growth, opts);
  }

  download(
    expected: string,
    open: RangeOpener,
    opts: DownloadOptions = {},
  ): Promise<IngestResult> {
    digestHex(expected);
    const present = this.stat(expected);
    if (present) {
      try {
        checkBlob(present, { ...opts, expected });
      } catch (e) {
        return Promise.reject(e);
      }
      return Promise.resolve({ ...present, created: false });
    }
    const running = this.#downloads.get(expected);
    if (running) return running.then((r) => ({ ...r, created: false }));
    const run = this.#download(expected, open, opts).finally(() =>
      this.#downloads.delete(expected)
    );
    this.#downloads.set(expected, run);
    return run;
  }

  async #download(
    expected: string,
    open: RangeOpener,
    opts: DownloadOptions,
  ): Promise<IngestResult> {
    const partial = this.partialPath(expected);
    const file = await Deno.open(partial, { read: true, write: true, create: true, mode: 0o600 });
    let info: BlobInfo;
    try {
      let have = (await file.stat()).size;
      if (opts.size !== undefined && have > opts.size) have = 0;
      // A hash's state cannot be saved, so a kept prefix is hashed again: a local read.
      let hash: Hash = createHash("sha256");
      if (have > 0) have = await hashPrefix(file, have, hash);
      opts.signal?.throwIfAborted();
      // A complete partial (a crash before its rename) needs no fetch, only the check.
      const { body, offset } = opts.size !== undefined && have === opts.size && have > 0
        ? { body: new Blob([]).stream(), offset: have }
        : await open(have);
      if (offset !== have) {
        if (offset !== 0) {
          await body.cancel().catch(() => {});
          throw PolisError.internal(`download of ${expected} restarted at ${offset}, not ${have}`);
        }
        // The source ignored the range: start over.
        have = 0;
        hash = createHash("sha256");
      }
      await file.truncate(have);
      await file.seek(have, Deno.SeekMode.Start);
      let size = have;
      opts.onWritten?.(size);
      opts.onProgress?.(size);
      for await (const chunk of chunksOf(body)) {
        let off = 0;
        while (off < chunk.byteLength) off += await file.write(chunk.subarray(off));
        hash.update(chunk);
        size += chunk.byteLength;
        opts.onWritten?.(size);
        opts.onProgress?.(size);
        if (opts.size !== undefined && size > opts.size) break; // ends the body too
        opts.signal?.throwIfAborted(); // leaving the loop cancels the body
      }
      await file.sync();
      info = { digest: `sha256:${hash.digest("hex")}`, size };
    } finally {
      file.close();
    }
    try {
      checkBlob(info, { ...opts, expected });
    } catch (e) {
      // Bad bytes must not seed the next attempt.
      removeIfExistsSync(partial);
      throw e;
    }
    if (this.has(expected)) {
      removeIfExistsSync(partial);
      return { ...info, created: false };
    }
    Deno.chmodSync(partial, 0o444);
    Deno.renameSync(partial, this.path(expected));
    fsyncDirSync(this.dir);
    return { ...info, created: true };
  }

  path(digest: string): string {
    return `${this.dir}/${digestHex(digest)}`;
  }

  has(digest: string): boolean {
    return this.stat(digest) !== undefined;
  }

  stat(digest: string): BlobInfo | undefined {
    try {
      const info = Deno.statSync(this.path(digest));
      return info.isFile ? { digest, size: info.size } : undefined;
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return undefined;
      throw e;
    }
  }

  async open(digest: string): Promise<ReadableStream<Uint8Array>> {
    try {
      const f = await Deno.open(this.path(digest), { read: true });
      return f.readable;
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) throw PolisError.notFound(`blob ${digest} not found`);
      throw e;
    }
  }

  readBytes(digest: string): Uint8Array {
    try {
      return Deno.readFileSync(this.path(digest));
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) throw PolisError.notFound(`blob ${digest} not found`);
      throw e;
    }
  }

  list(): BlobInfo[] {
    const out: BlobInfo[] = [];
    for (const e of Deno.readDirSync(this.dir)) {
      if (!e.isFile || !/^[a-f0-9]{64}$/.test(e.name)) continue;
      const digest = `sha256:${e.name}`;
      const info = this.stat(digest);
      if (info) out.push(info);
    }
    return out;
  }

  async ingest(
    content: ReadableStream<Uint8Array>,
    opts: IngestOptions = {},
  ): Promise<IngestResult> {
    const tmp = `${this.tmpDir}/ingest-${randomSuffix()}`;
    let file: Deno.FsFile;
    try {
      if (opts.expected !== undefined) digestHex(opts.expected);
      file = await Deno.open(tmp, { write: true, createNew: true, mode: 0o600 });
    } catch (e) {
      await content.cancel().catch(() => {}); // release whatever feeds the stream
      throw e;
    }
    let info: BlobInfo;
    try {
      try {
        info = await hashStream(content, async (chunk) => {
          let off = 0;
          while (off < chunk.byteLength) off += await file.write(chunk.subarray(off));
        });
        await file.sync();
      } finally {
        file.close();
      }
      checkBlob(info, opts);
      const dest = this.path(info.digest);
      if (this.has(info.digest)) {
        Deno.removeSync(tmp);
        return { ...info, created: false };
      }
      Deno.chmodSync(tmp, 0o444);
      Deno.renameSync(tmp, dest);
      fsyncDirSync(this.dir);
      return { ...info, created: true };
    } catch (e) {
      removeIfExistsSync(tmp);
      throw e;
    }
  }

  /**
   * Ingests a file that already sits in this store's temp dir (an extracted
   * archive): hashed in a streaming read, then renamed into place rather than
   * copied. The file is consumed either way.
   */
  async ingestTempFile(path: string, opts: IngestOptions = {}): Promise<IngestResult> {
    if (!path.startsWith(`${this.tmpDir}/`)) {
      throw PolisError.internal(`ingestTempFile: ${path} is not under ${this.tmpDir}`);
    }
    try {
      if (opts.expected !== undefined) digestHex(opts.expected);
      const file = await Deno.open(path, { read: true });
      let info: BlobInfo;
      try {
        // The extractor did not fsync; the rename below must not outrun the data.
        await file.sync();
        info = await hashStream(file.readable);
      } finally {
        try {
          file.close();
        } catch {
          // readable already closed the file
        }
      }
      checkBlob(info, opts);
      if (this.has(info.digest)) {
        Deno.removeSync(path);
        return { ...info, created: false };
      }
      Deno.chmodSync(path, 0o444);
      Deno.renameSync(path, this.path(info.digest));
      fsyncDirSync(this.dir);
      return { ...info, created: true };
    } catch (e) {
      removeIfExistsSync(path);
      throw e;
    }
  }

  /** Removes a blob; absent blobs are fine (removal is idempotent for GC). */
  delete(digest: string): void {
    removeIfExistsSync(this.path(digest));
  }
}

const READ_CHUNK = 64 * 1024;

/**
 * The chunks of a body. A byte stream is read into one buffer, used again for every
 * chunk (each is consumed before the next read), so a download allocates nothing per
 * chunk: fresh arrays, dead at once, would pile up as garbage until V8 collects.
 * Leaving the loop early cancels the body.
 */
export async function* chunksOf(body: ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array> {
  let byob: ReadableStreamBYOBReader;
  try {
    byob = body.getReader({ mode: "byob" });
  } catch {
    yield* body;
    return;
  }
  let done = false;
  try {
    let view = new Uint8Array(READ_CHUNK);
    for (;;) {
      const r = await byob.read(view);
      if (r.done) break;
      yield r.value;
      // The read moved the buffer; its new view is the one to fill next.
      view = new Uint8Array(r.value.buffer);
    }
    done = true;
  } finally {
    if (!done) await byob.cancel().catch(() => {});
    byob.releaseLock();
  }
}

/** Feeds the first `length` bytes of `file` to `hash`; returns how many there were. */
async function hashPrefix(file: Deno.FsFile, length: number, hash: Hash): Promise<number> {
  await file.seek(0, Deno.SeekMode.Start);
  const buf = new Uint8Array(1 << 20);
  let read = 0;
  while (read < length) {
    const n = await file.read(buf.subarray(0, Math.min(buf.length, length - read)));
    if (n === null) break;
    hash.update(buf.subarray(0, n));
    read += n;
  }
  return read;
}

function checkBlob(info: BlobInfo, opts: IngestOptions): void {
  const what = opts.label ? `${opts.label} ` : "blob ";
  if (opts.expected !== undefined && info.digest !== opts.expected) {
    throw PolisError.invalid(
      `${what}${opts.expected}: content does not match its digest (got ${info.digest})`,
    );
  }
  if (opts.size !== undefined && info.size !== opts.size) {
    throw PolisError.invalid(
      `${what}${info.digest}: size ${info.size} differs from the expected ${opts.size}`,
    );
  }
}
