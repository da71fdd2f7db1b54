/**
 * Readiness of many fds with one pool thread. Deno reads a FIFO (or any file) by parking a
 * thread of its blocking pool in read(2) until data comes; that pool has 32 threads, so a
 * daemon pumping two FIFOs per container stalled every async file op, Worker load included,
 * once 16 containers ran. Here the fds are non-blocking and one poll(2) at a time waits for
 * all of them on a pool thread; the reads happen on the caller's thread when poll says so.
 *
 * @example
 * ```ts
 * const poller = new FdPoller();
 * poller.add(fd, () => { while (readNonblocking(fd, buf) > 0) {} });
 * poller.remove(fd); // closes it once no poll(2) uses it
 * ```
 * @module
 */

import { O_CLOEXEC, O_NONBLOCK } from "./arch.ts";
import { ErrnoError } from "./errno.ts";
import { errno, libc } from "./libc.ts";
import { POLLERR, POLLHUP, POLLIN } from "./proc.ts";

const EAGAIN = 11;
const EINTR = 4;
const POLLNVAL = 0x20;

/** Called on the caller's thread when its fd is readable, hung up or in error. */
export type ReadyCallback = (revents: number) => void;

export class FdPoller {
  readonly #watched = new Map<number, ReadyCallback>();
  /** Removed while a poll(2) may still use them: closed when it returns. */
  readonly #toClose: number[] = [];
  #wake: [number, number] | undefined;
  #loop: Promise<void> | undefined;

  /** How many fds are watched. */
  get size(): number {
    return this.#watched.size;
  }

  /** Watches `fd` (made non-blocking here); the poller closes it on `remove`. */
  add(fd: number, onReady: ReadyCallback): void {
    setFlag(fd, O_NONBLOCK);
    this.#watched.set(fd, onReady);
    this.#kick();
  }

  /** Stops watching `fd` and closes it (after the poll(2) in flight, if any). */
  remove(fd: number): void {
    if (!this.#watched.delete(fd)) return;
    this.#toClose.push(fd);
    if (this.#loop) this.#wakeUp();
    else this.#closeRemoved();
  }

  /** Stops watching everything; resolves once no poll(2) is in flight. */
  async close(): Promise<void> {
    for (const fd of [...this.#watched.keys()]) this.remove(fd);
    await this.#loop;
    if (this.#wake) {
      for (const fd of this.#wake) libc().close(fd);
      this.#wake = undefined;
    }
  }

  #kick(): void {
    if (this.#loop) this.#wakeUp();
    else this.#loop = this.#run().finally(() => this.#loop = undefined);
  }

  #wakeUp(): void {
    if (!this.#wake) return;
    // A full pipe already means "wake up".
    libc().write(this.#wake[1], new Uint8Array([1]), 1n);
  }

  async #run(): Promise<void> {
    if (!this.#wake) {
      const fds = new Int32Array(2);
      if (libc().pipe2(new Uint8Array(fds.buffer), O_CLOEXEC | O_NONBLOCK) < 0) {
        throw new ErrnoError("pipe2", errno(), []);
      }
      this.#wake = [fds[0], fds[1]];
    }
    const wake = this.#wake[0];
    const drain = new Uint8Array(64);
    while (this.#watched.size > 0) {
      const fds = [wake, ...this.#watched.keys()];
      const buf = new DataView(new ArrayBuffer(8 * fds.length));
      fds.forEach((fd, i) => {
        buf.setInt32(8 * i, fd, true);
        buf.setInt16(8 * i + 4, POLLIN, true);
      });
      const bytes = new Uint8Array(buf.buffer);
      const n = await libc().poll_nonblocking(bytes, BigInt(fds.length), -1);
      this.#closeRemoved();
      // A failed poll(2) (EINTR; errno is the pool thread's) is simply tried again.
      if (n <= 0) continue;
      while (Number(libc().read(wake, drain, BigInt(drain.length))) > 0) {
        // emptied
      }
      for (let i = 1; i < fds.length; i++) {
        const revents = buf.getInt16(8 * i + 6, true);
        if (revents === 0) continue;
        const cb = this.#watched.get(fds[i]);
        if (!cb) continue; // removed meanwhile
        if (revents & POLLNVAL) {
          this.#watched.delete(fds[i]);
          cb(POLLERR);
          continue;
        }
        cb(revents);
      }
    }
    this.#closeRemoved();
  }

  #closeRemoved(): void {
    for (const fd of this.#toClose.splice(0)) libc().close(fd);
  }
}

/** read(2) on a non-blocking fd: the byte count, 0 at end of file, null when nothing is there. */
export function readNonblocking(fd: number, buf: Uint8Array): number | null {
  for (;;) {
    const n = Number(libc().read(fd, buf, BigInt(buf.length)));
    if (n >= 0) return n;
    const e = errno();
    if (e === EINTR) continue;
    if (e === EAGAIN) return null;
    throw new ErrnoError("read", e, [fd]);
  }
}

/** Readable or hung up: worth a read. */
export const READABLE = POLLIN | POLLHUP | POLLERR;

function setFlag(fd: number, flag: number): void {
  const F_GETFL = 3, F_SETFL = 4;
  const cur = libc().fcntl(fd, F_GETFL, 0n);
  if (cur < 0) throw new ErrnoError("fcntl", errno(), [fd, "F_GETFL"]);
  if (libc().fcntl(fd, F_SETFL, BigInt(cur | flag)) < 0) {
    throw new ErrnoError("fcntl", errno(), [fd, "F_SETFL"]);
  }
}
