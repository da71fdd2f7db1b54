/**
 * The helper role of `create` (enter the namespaces, start the init from there, collect its
 * report), played one of three ways:
 *
 * - "worker" (the default, what a daemon uses): on a throwaway Worker thread of this process
 *   (setup-worker.ts). The init is started as soon as the plan's namespaces are known and
 *   waits on a "go" pipe until the plan file is written, so its start-up (a Deno start, the
 *   longest step) overlaps the caller's preparation. Where the worker module cannot be
 *   loaded (a `deno bundle` output; a compiled binary built without
 *   `--include src/runtime/setup-worker.ts`) this falls back to "process", once logged.
 * - "process": a short-lived `_setup` process, started once the plan is written. About
 *   30 ms slower (one more Deno start-up); kept as a fallback.
 * - "inline": this process's main thread, only for a process that exits right after, as
 *   `polis oci create`: it leaves the calling thread in the container's uts/ipc/net
 *   namespaces and makes its future children land in the container's pid namespace.
 * @module
 */

import { existsSync, logger, PolisError, selfCommand } from "../core/mod.ts";
import {
  CLONE_NEWNS,
  closeQuiet,
  O_CLOEXEC,
  O_RDONLY,
  open,
  pipe2,
  setns,
  writeAll,
} from "../../ffi/mod.ts";
import type { InitPlan } from "./plan.ts";
import { failure, parseReport, type SetupResult } from "./protocol.ts";
import { INIT_REPORT_TIMEOUT_MS, initCommand, spawnInit, type SpawnRequest } from "./setup.ts";
import { RESULT_FILE } from "./state.ts";

export type HelperMode = "worker" | "process" | "inline";

/** The helper role for one container, begun once its plan (minus the file) is known. */
export interface PendingInit {
  /** The plan file is written: let the init go on; resolves to the helper's result. */
  go(): Promise<SetupResult>;
  /** The preparation failed: make sure no init remains. */
  abort(): Promise<void>;
}

export interface HelperJob {
  stateDir: string;
  namespaces: InitPlan["namespaces"];
  /** True when the init opens its own stdio (create's `stdio` option). */
  quiet: boolean;
  /** Keep a loaded worker ready for the next create (RuntimeConfig.spareSetupWorker). */
  spareWorker?: boolean;
}

/** Begins the helper role; for "worker" this already starts the init. */
export function beginHelper(mode: HelperMode, job: HelperJob): PendingInit {
  if (mode === "worker") {
    const init = WorkerInit.start(job);
    if (init) return init;
  }
  return {
    go: () => mode === "inline" ? runHelperInline(job) : runHelperProcess(job),
    abort: () => Promise.resolve(),
  };
}

async function runHelperProcess(job: HelperJob): Promise<SetupResult> {
  const { stateDir, quiet } = job;
  const self = selfCommand();
  const out = await new Deno.Command(self[0], {
    args: [...self.slice(1), "_setup", stateDir],
    env: { DENO_NO_UPDATE_CHECK: "1" },
    stdin: quiet ? "null" : "inherit",
    stdout: quiet ? "null" : "inherit",
    stderr: quiet ? "piped" : "inherit",
  }).output();
  let text = "";
  try {
    text = Deno.readTextFileSync(`${stateDir}/${RESULT_FILE}`);
  } catch {
    // no result: the helper failed before writing it
  }
  if (text.trim() === "") {
    const err = quiet
      ? new TextDecoder().decode(out.stderr).trim().split("\n").slice(-3).join("; ")
      : "";
    return {
      ok: false,
      error: `container setup helper failed (exit ${out.code})${err ? `: ${err}` : ""}`,
      code: "internal",
    };
  }
  return parseReport<SetupResult>(text);
}

/** Helper role on this thread; returns to the original mount namespace before any file I/O. */
function runHelperInline(job: HelperJob): Promise<SetupResult> {
  const mntFd = open("/proc/thread-self/ns/mnt", O_RDONLY | O_CLOEXEC);
  let result: SetupResult;
  try {
    result = spawnInit({
      namespaces: job.namespaces,
      stateDir: job.stateDir,
      stdio: "inherit",
      cmd: initCommand(),
    });
  } finally {
    // The init's pivot_root moved this thread's root into the container: come back.
    try {
      setns(mntFd, CLONE_NEWNS, "the original mount namespace");
    } finally {
      closeQuiet(mntFd);
    }
  }
  return Promise.resolve(result);
}

/** False once the worker module proved unloadable; then "worker" means "process". */
let workerLoads: boolean | undefined;

function noWorker(why: string): void {
  if (workerLoads !== false) {
    logger.warn("container setup falls back to a helper process", { reason: why });
  }
  workerLoads = false;
}

/**
 * One setup Worker (see setup-worker.ts for its side of the protocol) for one request. Its
 * start-up blocks the creating thread for about 13 ms (a new isolate), and loading its module
 * takes about 6 ms more on its own thread; a request can be posted at once.
 */
class SetupWorker {
  readonly #worker: Worker;
  #loaded = false;
  /** Set when the worker failed before a request was made. */
  #early: SetupResult | null | undefined;
  #resolve: ((r: SetupResult | null) => void) | null = null;
  #loadTimer: ReturnType<typeof setTimeout> | undefined;
  /** Given up for loading too slowly (not for failing): later creates try workers again. */
  timedOut = false;

  private constructor() {
    const born = performance.now();
    // Written in exactly this shape so `deno compile --bundle` finds and bundles the worker.
    this.#worker = new Worker(new URL("./setup-worker.ts", import.meta.url), {
      type: "module",
      name: "polis-setup",
    });
    this.#worker.onmessage = (e: MessageEvent<SetupResult | { ready: true }>) => {
      if ("ready" in e.data) {
        this.#loaded = workerLoads = true;
        clearTimeout(this.#loadTimer);
        const ms = Math.round(performance.now() - born);
        if (ms > 2000) logger.warn("setup worker loaded slowly", { ms });
      } else {
        this.#settle(e.data);
      }
    };
    // A worker that does not load in time (seen in full test runs on fresh clones, where
    // the first one in a busy `deno test` process took over 10 s; cause not found) must not
    // hang create: this create falls back to the `_setup` helper process, later ones try
    // workers again.
    const timer = setTimeout(() => {
      if (this.#loaded) return;
      this.timedOut = true;
      this.#worker.terminate();
      this.#settle(null);
    }, WORKER_LOAD_TIMEOUT_MS);
    Deno.unrefTimer(timer as unknown as number);
    this.#loadTimer = timer;
    this.#worker.onerror = (e: ErrorEvent) => {
      e.preventDefault(); // never let it reach (and end) this process
      this.#settle(
        this.#loaded
          ? failure(PolisError.internal(`container setup worker failed: ${e.message}`))
          : null,
      );
    };
  }

  #settle(r: SetupResult | null): void {
    if (this.#resolve) this.#resolve(r);
    else this.#early ??= r;
  }

  /** A new worker, or null where the worker module is known to be missing. */
  static start(): SetupWorker | null {
    if (workerLoads === false) return null;
    const url = new URL("./setup-worker.ts", import.meta.url);
    // Checked first: a missing module would also print an uncaught-error line on stderr.
    if (url.protocol === "file:" && !existsSync(decodeURIComponent(url.pathname))) {
      noWorker(`${url.pathname} does not exist`);
      return null;
    }
    return new SetupWorker();
  }

  /**
   * Posts the one request (taken as soon as the module is loaded). Resolves with the reply, or
   * null if the module could not be loaded (then nothing was started).
   */
  run(req: SpawnRequest): Promise<SetupResult | null> {
    if (this.#early !== undefined) return Promise.resolve(this.#early);
    return new Promise((resolve) => {
      this.#resolve = resolve;
      this.#worker.postMessage(req);
    });
  }

  terminate(): void {
    clearTimeout(this.#loadTimer);
    this.#worker.terminate();
  }
}

/** How long a setup worker may take to load its module before it is given up. */
const WORKER_LOAD_TIMEOUT_MS = 10_000;

/** A loaded, unused worker kept for the next create (see `spareWorker`). */
let spare: SetupWorker | null = null;
/**
 * An init started ahead of the next create (`_init -`), in new namespaces like the last
 * create's, waiting for its state dir on the go pipe: it takes the init's Deno start-up, the
 * longest step of a create, off the next create's path.
 */
let spareInit: WorkerInit | null = null;
/** Pending creation of the next spare, and the timer that ends an unused one. */
let spareTimer: ReturnType<typeof setTimeout> | undefined;
let idleTimer: ReturnType<typeof setTimeout> | undefined;

/**
 * How long a spare is kept without a create: it costs memory (a V8 isolate, and for a spare
 * init a waiting Deno process) that an edge device should get back once a burst of starts is
 * over.
 */
export const SPARE_IDLE_MS = 30_000;

/** The spare worker if there is one, else a new one; null where workers cannot load. */
function takeWorker(): SetupWorker | null {
  const w = spare ?? SetupWorker.start();
  spare = null;
  return w;
}

/** Whether a spare init can serve `job`: its own stdio, and only namespaces it makes anew. */
function spareable(job: HelperJob): boolean {
  return job.quiet && job.namespaces.every((n) => !n.path);
}

function sameNamespaces(a: HelperJob["namespaces"], b: HelperJob["namespaces"]): boolean {
  const key = (ns: HelperJob["namespaces"]) =>
    ns.map((n) => `${n.type}:${n.path ?? ""}`).sort().join(",");
  return key(a) === key(b);
}

/** The spare init if it fits `job` and is still alive; otherwise it is ended. */
function takeSpareInit(job: HelperJob): WorkerInit | null {
  const s = spareInit;
  spareInit = null;
  if (s === null) return null;
  if (spareable(job) && sameNamespaces(s.namespaces, job.namespaces) && s.alive) return s;
  void s.abort().catch(() => {});
  return null;
}

/**
 * Makes the next create's spare once the current create's synchronous part is done: a new
 * Worker blocks this thread for 10-20 ms (a new isolate), which then overlaps the init's
 * start-up (another process) instead of delaying this create. After a create that a spare
 * init could serve, that is a spare init; otherwise a loaded worker.
 */
function scheduleSpare(job: HelperJob): void {
  if (spareTimer !== undefined) return;
  if (spareInit !== null || (spare !== null && !spareable(job))) return;
  spareTimer = setTimeout(() => {
    spareTimer = undefined;
    if (spareable(job)) spareInit ??= WorkerInit.startSpare(job.namespaces);
    else spare ??= SetupWorker.start();
    if (spare === null && spareInit === null) return;
    if (idleTimer !== undefined) clearTimeout(idleTimer);
    idleTimer = setTimeout(dropSpareWorker, SPARE_IDLE_MS);
    Deno.unrefTimer(Number(idleTimer));
  }, 0);
}

/**
 * Ends the spares kept by `spareWorker` creates, if any (a live Worker keeps the process
 * running), and cancels one about to be made.
 */
export function dropSpareWorker(): void {
  for (const t of [spareTimer, idleTimer]) if (t !== undefined) clearTimeout(t);
  spareTimer = idleTimer = undefined;
  spare?.terminate();
  spare = null;
  // Closing its go pipe without a byte makes the init leave; its worker reaps it and ends.
  void spareInit?.abort().catch(() => {});
  spareInit = null;
}

/** The "worker" helper: the init starts at once and waits on the go pipe. */
class WorkerInit implements PendingInit {
  #job: HelperJob;
  readonly #worker: SetupWorker;
  readonly #goRead: number;
  #goWrite: number;
  #reply: Promise<SetupResult | null> = Promise.resolve(null);
  /** Started ahead of its container: the state dir goes with the go. */
  #ahead = false;
  #settled = false;

  private constructor(job: HelperJob, worker: SetupWorker, goRead: number, goWrite: number) {
    this.#job = job;
    this.#worker = worker;
    this.#goRead = goRead;
    this.#goWrite = goWrite;
  }

  get namespaces(): HelperJob["namespaces"] {
    return this.#job.namespaces;
  }

  /** False once the init or its worker has ended (a spare must not be handed out then). */
  get alive(): boolean {
    return !this.#settled;
  }

  static start(job: HelperJob): WorkerInit | null {
    if (job.spareWorker) {
      const ahead = takeSpareInit(job);
      if (ahead) {
        ahead.#job = job;
        scheduleSpare(job);
        return ahead;
      }
    }
    return WorkerInit.#begin(job, takeWorker());
  }

  /** An init for a future create with these namespaces; null where workers cannot load. */
  static startSpare(namespaces: HelperJob["namespaces"]): WorkerInit | null {
    const init = WorkerInit.#begin(
      { stateDir: "-", namespaces, quiet: true },
      SetupWorker.start(),
      SPARE_IDLE_MS + INIT_REPORT_TIMEOUT_MS,
    );
    if (init) init.#ahead = true;
    return init;
  }

  static #begin(
    job: HelperJob,
    worker: SetupWorker | null,
    reportTimeoutMs?: number,
  ): WorkerInit | null {
    const cmd = initCommand();
    if (worker === null) return null;
    let goRead: number, goWrite: number;
    try {
      // Close-on-exec: only the init gets the read end, through a dup2 in posix_spawn.
      [goRead, goWrite] = pipe2(O_CLOEXEC);
    } catch (e) {
      worker.terminate();
      throw e;
    }
    const init = new WorkerInit(job, worker, goRead, goWrite);
    init.#reply = worker.run({
      namespaces: job.namespaces,
      stateDir: job.stateDir,
      stdio: job.quiet ? "null" : "inherit",
      cmd,
      goFd: goRead,
      ...(reportTimeoutMs ? { reportTimeoutMs, ahead: true } : {}),
    });
    void init.#reply.finally(() => init.#settled = true);
    // The next create's spare, made while this one's init starts (that takes longer).
    if (job.spareWorker) scheduleSpare(job);
    return init;
  }

  /** Closes the go pipe: with a byte sent it means go, without one give up. */
  #release(go: boolean): void {
    if (this.#goWrite < 0) return;
    try {
      // The read end stays open until the reply, so this cannot fail with EPIPE.
      if (go) {
        const dir = this.#ahead ? new TextEncoder().encode(this.#job.stateDir) : new Uint8Array();
        writeAll(this.#goWrite, new Uint8Array([1, ...dir]));
      }
    } finally {
      closeQuiet(this.#goWrite);
      this.#goWrite = -1;
    }
  }

  async #finish(): Promise<SetupResult | null> {
    try {
      return await this.#reply;
    } finally {
      closeQuiet(this.#goRead);
      // Its thread entered the container's namespaces: it must never run anything else.
      this.#worker.terminate();
    }
  }

  async go(): Promise<SetupResult> {
    try {
      this.#release(true);
    } catch {
      // The pipe is closed all the same: the init gives up, and its reply says so.
    }
    const r = await this.#finish();
    if (r !== null) return r;
    if (this.#worker.timedOut) {
      logger.warn("setup worker did not load in time; this container uses a helper process", {
        timeoutMs: WORKER_LOAD_TIMEOUT_MS,
      });
    } else {
      noWorker("the setup worker module failed to load");
    }
    return await runHelperProcess(this.#job);
  }

  async abort(): Promise<void> {
    this.#release(false);
    // The init reads end-of-file and exits; the worker reaps it before it replies.
    await this.#finish();
  }
}
