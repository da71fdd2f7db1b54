/**
 * Reading a blob while it downloads. The downloader reports, through a `Growth`, how far
 * its partial file is written; `followBlob` reads that file up to there and waits for
 * more, so an unpacker can consume a layer as it arrives. The network side may fail,
 * retry and resume with a Range as often as it likes: the follower only ever sees the
 * file, so extraction never restarts. Once the download is verified and renamed into the
 * blob store the follower reads on to the end; when it fails for good the follower fails.
 *
 * @example
 * ```ts
 * const growth = new Growth();
 * const download = blobs.download(digest, open, { onWritten: (n) => growth.wrote(n) })
 *   .then(() => growth.end(), (e) => growth.fail(e));
 * for await (const chunk of followBlob([partial, final], growth)) consume(chunk);
 * ```
 * @module
 */

import { PolisError } from "../core/errors.ts";

/** How far a download has written its partial file, and whether it ended. */
export class Growth {
  #length = 0;
  #ended = false;
  #failure: { error: unknown } | undefined;
  #waiters: (() => void)[] = [];

  /** Bytes the partial file holds now (it may shrink when a source ignores a Range). */
  get length(): number {
    return this.#length;
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** The error the download failed with for good, if it did. */
  get failure(): { error: unknown } | undefined {
    return this.#failure;
  }

  wrote(length: number): void {
    this.#length = length;
    this.#wake();
  }

  /** The blob is verified and in the store. */
  end(): void {
    this.#ended = true;
    this.#wake();
  }

  fail(error: unknown): void {
    this.#failure ??= { error };
    this.#ended = true;
    this.#wake();
  }

  /** Resolves at the next change. */
  changed(): Promise<void> {
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }
}

export interface FollowOptions {
  /** Bytes read at once (default 64 KiB). */
  chunkSize?: number;
  /** Called with the bytes handed on so far. */
  onRead?: (consumed: number) => void;
}

const CHUNK = 64 * 1024;

/**
 * The bytes of a blob as its download grows. `paths` are tried in order when opening:
 * the partial file, then the blob's final place (where a finished download renamed it).
 * An open file survives that rename, so one descriptor serves the whole download.
 */
export function followBlob(
  paths: readonly string[],
  growth: Growth,
  opts: FollowOptions = {},
): ReadableStream<Uint8Array> {
  const chunkSize = opts.chunkSize ?? CHUNK;
  let file: Deno.FsFile | undefined;
  let pos = 0;
  const close = () => {
    try {
      file?.close();
    } catch {
      // already closed
    }
    file = undefined;
  };
  const open = async (): Promise<Deno.FsFile | undefined> => {
    for (const p of paths) {
      try {
        return await Deno.open(p, { read: true });
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      }
    }
    return undefined;
  };
  // A byte stream: a reader with its own buffer (BYOB) gets it filled from the file
  // directly, so following a download allocates nothing per chunk.
  return new ReadableStream({
    type: "bytes",
    autoAllocateChunkSize: chunkSize,
    async pull(controller) {
      try {
        for (;;) {
          const failure = growth.failure;
          if (failure) throw failure.error;
          // Written bytes are readable at once; past them only once the blob is complete.
          const ended = growth.ended;
          const avail = ended ? Infinity : growth.length - pos;
          if (avail > 0) {
            file ??= await open();
            if (!file) {
              if (ended) throw PolisError.internal(`blob ${paths.at(-1)} vanished`);
            } else {
              // A read always comes with a buffer to fill (autoAllocateChunkSize); the
              // fresh one is only a fallback.
              const req = controller.byobRequest;
              const view = (req?.view ?? new Uint8Array(chunkSize)) as Uint8Array<ArrayBuffer>;
              const n = await file.read(view.subarray(0, Math.min(view.byteLength, avail)));
              if (n === null || n === 0) {
                if (ended) {
                  close();
                  controller.close();
                  req?.respond(0);
                  return;
                }
              } else {
                pos += n;
                opts.onRead?.(pos);
                if (req) req.respond(n);
                else controller.enqueue(view.subarray(0, n));
                return;
              }
            }
          }
          await growth.changed();
        }
      } catch (e) {
        close();
        throw e;
      }
    },
    cancel() {
      close();
    },
  });
}
