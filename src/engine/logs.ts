/**
 * Container logs in docker's json-file shape. The container writes into FIFOs it
 * holds open read-write (so it never sees EPIPE while the daemon is away); the
 * daemon pumps them into `<id>-json.log`, one `{"log","stream","time"}` per line.
 * @module
 */

import * as fs from "node:fs";
import { FdPoller, O_CLOEXEC, O_NONBLOCK, O_RDONLY, open, readNonblocking } from "../../ffi/mod.ts";
import type { LogEntry, LogOptions } from "./types.ts";

/** docker splits lines longer than this into several entries. */
const MAX_LINE = 16 * 1024;

type Stream = "stdout" | "stderr";

/** Appends entries to a json-file log; shared by a container's two streams. */
export class LogWriter {
  #fd: number;
  #listeners = new Set<() => void>();
  #enc = new TextEncoder();

  constructor(readonly path: string) {
    this.#fd = fs.openSync(path, "a", 0o640);
  }

  append(stream: Stream, text: string): void {
    const line = JSON.stringify({ log: text, stream, time: new Date().toISOString() }) + "\n";
    fs.writeSync(this.#fd, this.#enc.encode(line));
    for (const l of this.#listeners) l();
  }

  onAppend(l: () => void): () => void {
    this.#listeners.add(l);
    return () => this.#listeners.delete(l);
  }

  close(): void {
    try {
      fs.closeSync(this.#fd);
    } catch {
      // already closed
    }
  }
}

/** Reads at a time per ready FIFO before the others get their turn. */
const READS_PER_TURN = 16;
/** Shared by every pump: reads are synchronous, on this thread, one at a time. */
const readBuf = new Uint8Array(64 * 1024);

/**
 * Reads one FIFO until EOF (every writer in the container is gone), splitting on
 * newlines. The FIFO is opened non-blocking and watched by `poller` (one pool thread for all
 * FIFOs: a blocking read per FIFO would hold one of Deno's 32 pool threads each).
 */
export function pumpFifo(
  poller: FdPoller,
  fifo: string,
  stream: Stream,
  out: LogWriter,
): Promise<void> {
  let fd: number;
  try {
    fd = open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  } catch (e) {
    return Promise.reject(e);
  }
  const dec = new TextDecoder();
  let pending = "";
  const take = (bytes: Uint8Array) => {
    pending += dec.decode(bytes, { stream: true });
    let nl: number;
    while ((nl = pending.indexOf("\n")) >= 0) {
      out.append(stream, pending.slice(0, nl + 1));
      pending = pending.slice(nl + 1);
    }
    while (pending.length >= MAX_LINE) {
      out.append(stream, pending.slice(0, MAX_LINE));
      pending = pending.slice(MAX_LINE);
    }
  };
  return new Promise((resolve, reject) => {
    const finish = (err?: unknown) => {
      poller.remove(fd);
      pending += dec.decode();
      if (pending) out.append(stream, pending);
      if (err === undefined) resolve();
      else reject(err);
    };
    poller.add(fd, () => {
      try {
        for (let i = 0; i < READS_PER_TURN; i++) {
          const n = readNonblocking(fd, readBuf);
          if (n === null) return; // drained for now
          if (n === 0) return finish(); // every writer is gone
          take(readBuf.subarray(0, n));
        }
      } catch (e) {
        finish(e);
      }
    });
  });
}

/**
 * Unblocks a reader stuck opening a FIFO that no writer will ever open (the
 * container died while the daemon was away): a writer appears and leaves.
 */
export function releaseFifoReader(fifo: string): boolean {
  try {
    const fd = fs.openSync(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
    fs.closeSync(fd);
    return true;
  } catch {
    return false;
  }
}

function parseLine(line: string): LogEntry | undefined {
  if (!line) return undefined;
  try {
    return JSON.parse(line) as LogEntry;
  } catch {
    return undefined;
  }
}

function wanted(e: LogEntry, opts: LogOptions): boolean {
  if (opts.stdout === false && e.stream === "stdout") return false;
  if (opts.stderr === false && e.stream === "stderr") return false;
  const t = Date.parse(e.time) / 1000;
  if (opts.since !== undefined && t < opts.since) return false;
  if (opts.until !== undefined && t > opts.until) return false;
  return true;
}

/** Reads complete lines of the log from `offset`; returns entries and the new offset. */
function readFrom(path: string, offset: number): { lines: string[]; offset: number } {
  let fd: number;
  try {
    fd = fs.openSync(path, "r");
  } catch {
    return { lines: [], offset };
  }
  try {
    const size = fs.fstatSync(fd).size;
    if (size <= offset) return { lines: [], offset };
    const buf = new Uint8Array(size - offset);
    let got = 0;
    while (got < buf.length) {
      const n = fs.readSync(fd, buf, got, buf.length - got, offset + got);
      if (n <= 0) break;
      got += n;
    }
    const text = new TextDecoder().decode(buf.subarray(0, got));
    const last = text.lastIndexOf("\n");
    if (last < 0) return { lines: [], offset };
    return {
      lines: text.slice(0, last).split("\n"),
      offset: offset + byteLen(text.slice(0, last + 1)),
    };
  } finally {
    fs.closeSync(fd);
  }
}

function byteLen(s: string): number {
  return new TextEncoder().encode(s).length;
}

export interface FollowSource {
  /** True while more output may come. */
  live(): boolean;
  /** Resolves on the next append or state change (or after a short fallback timeout). */
  changed(): Promise<void>;
}

/** Yields log entries: the tail first, then (with follow) new ones until the source ends. */
export async function* readLogs(
  path: string,
  opts: LogOptions,
  source?: FollowSource,
): AsyncGenerator<LogEntry> {
  let { lines, offset } = readFrom(path, 0);
  let entries = lines.map(parseLine).filter((e): e is LogEntry => !!e && wanted(e, opts));
  if (opts.tail !== undefined && opts.tail >= 0) {
    entries = opts.tail === 0 ? [] : entries.slice(-opts.tail);
  }
  for (const e of entries) yield e;
  if (!opts.follow || !source) return;
  while (true) {
    const alive = source.live();
    const wait = alive ? source.changed() : undefined;
    ({ lines, offset } = readFrom(path, offset));
    for (const l of lines) {
      const e = parseLine(l);
      if (e && wanted(e, opts)) yield e;
    }
    if (!alive) return;
    await wait;
  }
}
