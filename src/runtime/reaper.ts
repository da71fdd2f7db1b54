/**
 * Exit statuses of containers for the daemon. A container's init is the daemon's child: it is
 * started with posix_spawn from a setup Worker's thread (and stays a child of the process when
 * that thread ends), or, with the `_setup` process fallback, re-parented to the daemon, a
 * child subreaper, when that helper exits. Deno does not know these children, so nothing else
 * reaps them. `Reaper` collects exactly the pids it was asked to watch with
 * waitpid(pid, WNOHANG) on SIGCHLD and on a periodic sweep. It never waits for "any child":
 * that would steal the statuses of the daemon's Deno.Command children from Deno.
 *
 * After a daemon restart the containers are not our children (they were re-parented to the
 * system's init); their exit is noticed by polling and reported with `exitCode` 255 and
 * `known: false` (docker also reports 255 when the real status is lost).
 * @module
 */

import { isErrno, realSyscalls, signalName, type Syscalls } from "../../ffi/mod.ts";
import { type ProcessProbe, procProbe } from "./state.ts";

export interface ExitStatus {
  /** The exit code, or 128+signal for a signal death (docker's convention); 255 if unknown. */
  exitCode: number;
  /** Set when the process was killed by a signal, e.g. "SIGKILL". */
  signal?: string;
  /** False when the process was not our child and its real status could not be read. */
  known: boolean;
}

export const UNKNOWN_EXIT_CODE = 255;

interface Watch {
  pid: number;
  startTime: number | null;
  resolve: (s: ExitStatus) => void;
  promise: Promise<ExitStatus>;
}

export interface ReaperOptions {
  /** Safety-net sweep interval (SIGCHLD can be coalesced or missed). */
  intervalMs?: number;
  sys?: Syscalls;
  probe?: ProcessProbe;
}

export class Reaper {
  readonly #watches = new Map<number, Watch>();
  readonly #sys: Syscalls;
  readonly #probe: ProcessProbe;
  readonly #intervalMs: number;
  #timer: ReturnType<typeof setInterval> | undefined;
  #listening = false;
  #closed = false;
  readonly #onSignal = () => this.sweep();

  constructor(opts: ReaperOptions = {}) {
    this.#sys = opts.sys ?? realSyscalls;
    this.#probe = opts.probe ?? procProbe;
    this.#intervalMs = opts.intervalMs ?? 500;
  }

  /**
   * Resolves when `pid` exits. `startTime` (from the container state) guards the polling
   * fallback against pid reuse. Watching the same pid twice returns the same promise.
   */
  watch(pid: number, startTime?: number): Promise<ExitStatus> {
    if (this.#closed) throw new Error("reaper is closed");
    const existing = this.#watches.get(pid);
    if (existing) return existing.promise;
    let resolve!: (s: ExitStatus) => void;
    const promise = new Promise<ExitStatus>((r) => (resolve = r));
    const w: Watch = { pid, startTime: startTime ?? this.#probe.startTime(pid), resolve, promise };
    this.#watches.set(pid, w);
    this.#arm();
    this.#check(w); // it may have exited already
    return promise;
  }

  /** Checks every watched pid now. */
  sweep(): void {
    for (const w of [...this.#watches.values()]) this.#check(w);
    if (this.#watches.size === 0) this.#disarm();
  }

  /** Stops watching; pending promises stay pending. */
  close(): void {
    this.#closed = true;
    this.#watches.clear();
    this.#disarm();
  }

  #finish(w: Watch, s: ExitStatus): void {
    this.#watches.delete(w.pid);
    w.resolve(s);
  }

  #check(w: Watch): void {
    let st;
    try {
      st = this.#sys.waitpid(w.pid, 1 /* WNOHANG */);
    } catch (e) {
      if (!isErrno(e, "ECHILD")) throw e;
      // Not our child: it exited when the pid is gone, a zombie, or someone else's.
      const now = this.#probe.startTime(w.pid);
      if (now === null || (w.startTime !== null && now !== w.startTime)) {
        this.#finish(w, { exitCode: UNKNOWN_EXIT_CODE, known: false });
      }
      return;
    }
    if (st === null) return;
    if (st.signal !== undefined) {
      this.#finish(w, { exitCode: 128 + st.signal, signal: signalName(st.signal), known: true });
    } else if (st.exitCode !== undefined) {
      this.#finish(w, { exitCode: st.exitCode, known: true });
    }
  }

  #arm(): void {
    if (!this.#listening) {
      try {
        Deno.addSignalListener("SIGCHLD", this.#onSignal);
        this.#listening = true;
      } catch {
        // no signal support: the sweep still works
      }
    }
    this.#timer ??= setInterval(() => this.sweep(), this.#intervalMs);
  }

  #disarm(): void {
    if (this.#listening) {
      Deno.removeSignalListener("SIGCHLD", this.#onSignal);
      this.#listening = false;
    }
    if (this.#timer !== undefined) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }
}
