/**
 * `create`: validate the bundle, make the state directory, exec FIFO and cgroup, then have a
 * helper start the container's init, which builds the rootfs and waits on the FIFO. Nothing
 * is left behind on failure. The helper is a throwaway Worker thread by default (see
 * setup-worker.ts); where its module cannot be loaded (a `deno bundle` output, a compiled
 * binary built without `--include src/runtime/setup-worker.ts`) a `_setup` process instead.
 * @module
 */

import {
  attachCleanupError,
  existsSync,
  logger,
  PolisError,
  removeIfExistsSync,
  selfCommand,
  writeFileAtomicSync,
} from "../core/mod.ts";
import { createCgroup, readCgroupLayout } from "../security/mod.ts";
import type { Cgroup } from "../security/mod.ts";
import {
  CLONE_NEWNS,
  closeQuiet,
  mkfifo,
  O_CLOEXEC,
  O_RDONLY,
  open,
  setns,
} from "../../ffi/mod.ts";
import { loadSpec } from "./spec.ts";
import { buildPlan, cgroupsPathOf, limitsFromSpec, validateId } from "./plan.ts";
import { cgroupMountPlans } from "./cgroup.ts";
import { failure, parseReport, reportError, type SetupResult } from "./protocol.ts";
import { initCommand, spawnInit } from "./setup.ts";
import type { SetupRequest } from "./setup-worker.ts";
import {
  EXEC_FIFO,
  OCI_VERSION,
  type OciState,
  PLAN_FILE,
  procProbe,
  RESULT_FILE,
  type RuntimeConfig,
  stateDirOf,
  type StoredState,
  toOciState,
  writeStored,
} from "./state.ts";

export interface CreateOptions {
  id: string;
  /** Bundle directory (config.json + rootfs); relative paths resolve against the cwd. */
  bundle: string;
  /**
   * Paths the workload's stdio is connected to (FIFOs are opened read-write so the workload
   * never sees EPIPE; other paths are appended to). Omitted: the caller's own stdio.
   */
  stdio?: { stdin?: string; stdout: string; stderr: string };
  /** Write the container's pid here (as runc's --pid-file). */
  pidFile?: string;
}

/**
 * How the helper role is played: a throwaway Worker thread of this process ("worker", the
 * default and what a daemon should use), a separate `_setup` process ("process", about 30 ms
 * slower: a Deno start-up), or this process's main thread ("inline", only for a process that
 * exits right after, as `polis oci create`: it leaves the calling thread in the container's
 * uts/ipc/net namespaces and makes its future children land in the container's pid
 * namespace). "worker" falls back to "process" when the worker module is not there.
 */
export type HelperMode = "worker" | "process" | "inline";

function absolute(p: string): string {
  return p.startsWith("/") ? p : `${Deno.cwd()}/${p}`;
}

async function runHelperProcess(stateDir: string, quiet: boolean): Promise<SetupResult> {
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

/** False once the worker module proved unloadable; then "worker" means "process". */
let workerLoads: boolean | undefined;

/**
 * A setup Worker, started before the main thread's own preparation so that its start-up
 * (about 10 ms: a new isolate and the module graph) overlaps it. Resolves `ready` with
 * false if the module cannot be loaded.
 */
class SetupWorker {
  readonly #worker: Worker;
  readonly ready: Promise<boolean>;
  #onResult: ((r: SetupResult) => void) | null = null;
  #onError: ((e: Error) => void) | null = null;

  private constructor() {
    // Written in exactly this shape so `deno compile --bundle` finds and bundles the worker.
    this.#worker = new Worker(new URL("./setup-worker.ts", import.meta.url), {
      type: "module",
      name: "polis-setup",
    });
    let readyResolve!: (ok: boolean) => void;
    this.ready = new Promise((r) => (readyResolve = r));
    let isReady = false;
    this.#worker.onmessage = (e: MessageEvent<SetupResult | { ready: true }>) => {
      if ("ready" in e.data) {
        isReady = true;
        readyResolve(true);
      } else {
        this.#onResult?.(e.data);
      }
    };
    this.#worker.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      if (!isReady) readyResolve(false);
      else this.#onError?.(new Error(e.message));
    };
  }

  /** A new worker, or null where the worker module is known to be missing. */
  static start(): SetupWorker | null {
    if (workerLoads === false) return null;
    const url = new URL("./setup-worker.ts", import.meta.url);
    // Checked first: a missing module also prints an uncaught-error line on stderr.
    if (url.protocol === "file:" && !existsSync(decodeURIComponent(url.pathname))) {
      noWorker(`${url.pathname} does not exist`);
      return null;
    }
    return new SetupWorker();
  }

  /** Sends the one request; resolves with the worker's one reply. */
  run(req: SetupRequest): Promise<SetupResult> {
    return new Promise((resolve, reject) => {
      this.#onResult = resolve;
      this.#onError = reject;
      this.#worker.postMessage(req);
    });
  }

  terminate(): void {
    this.#worker.terminate();
  }
}

function noWorker(why: string): void {
  if (workerLoads !== false) {
    logger.warn("container setup falls back to a helper process", { reason: why });
  }
  workerLoads = false;
}

/** Helper role on `worker`'s thread; falls back to a `_setup` process if it never loaded. */
async function runHelperWorker(
  worker: SetupWorker | null,
  stateDir: string,
  planText: string,
  quiet: boolean,
): Promise<SetupResult> {
  if (worker === null || !(await worker.ready)) {
    if (worker !== null) noWorker("the setup worker module failed to load");
    return await runHelperProcess(stateDir, quiet);
  }
  workerLoads = true;
  try {
    return await worker.run({
      planText,
      stateDir,
      stdio: quiet ? "null" : "inherit",
      cmd: initCommand(),
    });
  } catch (e) {
    return failure(PolisError.internal(`container setup worker failed: ${(e as Error).message}`));
  }
}

/** Helper role in this process; returns to the original mount namespace before any file I/O. */
function runHelperInline(stateDir: string, planText: string): Promise<SetupResult> {
  const mntFd = open("/proc/thread-self/ns/mnt", O_RDONLY | O_CLOEXEC);
  let spawned;
  try {
    spawned = spawnInit(JSON.parse(planText), stateDir, "inherit", initCommand());
  } finally {
    // The init's pivot_root moved this thread's root into the container: come back.
    try {
      setns(mntFd, CLONE_NEWNS, "the original mount namespace");
    } finally {
      closeQuiet(mntFd);
    }
  }
  return Promise.resolve(spawned);
}

/**
 * Creates container `opts.id` from its bundle. Resolves to its state (status "created") once
 * the init waits for `start`. Validation happens before anything is made.
 */
export async function createContainer(
  cfg: RuntimeConfig,
  opts: CreateOptions,
  helper: HelperMode = "worker",
): Promise<OciState> {
  validateId(opts.id);
  // Started first: its start-up runs on its own thread while this one prepares.
  const worker = helper === "worker" ? SetupWorker.start() : null;
  try {
    return await create(cfg, opts, helper, worker);
  } finally {
    worker?.terminate();
  }
}

async function create(
  cfg: RuntimeConfig,
  opts: CreateOptions,
  helper: HelperMode,
  worker: SetupWorker | null,
): Promise<OciState> {
  const stateRoot = absolute(cfg.stateRoot);
  const bundle = absolute(opts.bundle).replace(/\/+$/, "") || "/";
  const stateDir = stateDirOf({ stateRoot }, opts.id);
  const spec = loadSpec(bundle);
  // Resolve now: in "inline" mode the cwd is "/" once the helper role is done.
  const pidFile = opts.pidFile ? absolute(opts.pidFile) : undefined;
  const stdio = opts.stdio
    ? {
      ...(opts.stdio.stdin ? { stdin: absolute(opts.stdio.stdin) } : {}),
      stdout: absolute(opts.stdio.stdout),
      stderr: absolute(opts.stdio.stderr),
    }
    : undefined;
  const plan = buildPlan(spec, { id: opts.id, bundle, stateDir, stdio });
  const cgroupsPath = cgroupsPathOf(spec, opts.id);
  const limits = limitsFromSpec(spec);

  Deno.mkdirSync(stateRoot, { recursive: true, mode: 0o711 });
  try {
    Deno.mkdirSync(stateDir, { mode: 0o700 });
  } catch (e) {
    if (e instanceof Deno.errors.AlreadyExists) {
      throw PolisError.conflict(`container ${opts.id} already exists`);
    }
    throw e;
  }

  const cfgAbs: RuntimeConfig = { stateRoot };
  const stored: StoredState = {
    ociVersion: spec.ociVersion || OCI_VERSION,
    id: opts.id,
    pid: 0,
    bundle,
    rootfs: plan.rootfs,
    annotations: spec.annotations ?? {},
    created: new Date().toISOString(),
    startTime: 0,
    cgroupsPath,
    started: false,
    creator: { pid: Deno.pid, startTime: procProbe.startTime(Deno.pid) ?? 0 },
  };
  let cgroup: Cgroup | null = null;
  try {
    writeStored(cfgAbs, stored);
    mkfifo(`${stateDir}/${EXEC_FIFO}`, 0o600);
    cgroup = createCgroup(cgroupsPath, limits);
    const procsFiles = cgroup.procsFiles();
    stored.cgroupDirs = procsFiles.map((f) => f.slice(0, f.lastIndexOf("/")));
    writeStored(cfgAbs, stored);
    plan.cgroup = { procsFiles, mounts: cgroupMountPlans(procsFiles, readCgroupLayout()) };
    const planText = JSON.stringify(plan);
    writeFileAtomicSync(`${stateDir}/${PLAN_FILE}`, planText, 0o600);

    const quiet = opts.stdio !== undefined;
    const result = helper === "inline"
      ? await runHelperInline(stateDir, planText)
      : helper === "worker"
      ? await runHelperWorker(worker, stateDir, planText, quiet)
      : await runHelperProcess(stateDir, quiet);
    if (!result.ok) throw reportError(result);

    const startTime = procProbe.startTime(result.pid);
    if (startTime === null) {
      throw PolisError.internal(`container init (pid ${result.pid}) exited right after setup`);
    }
    const { creator: _, ...rest } = stored;
    const final: StoredState = { ...rest, pid: result.pid, startTime };
    writeStored(cfgAbs, final);
    if (pidFile) writeFileAtomicSync(pidFile, String(result.pid));
    return toOciState(final, "created");
  } catch (e) {
    if (cgroup) {
      try {
        await cgroup.destroy();
      } catch (ce) {
        attachCleanupError(e, ce);
      }
    }
    try {
      removeIfExistsSync(stateDir, true);
    } catch (ce) {
      attachCleanupError(e, ce);
    }
    throw e;
  }
}
