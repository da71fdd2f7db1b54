/**
 * `create`: validate the bundle, make the state directory, exec FIFO and cgroup, then have a
 * helper start the container's init, which builds the rootfs and waits on the FIFO. Nothing
 * is left behind on failure. How the helper role is played: see helpers.ts.
 * @module
 */

import {
  attachCleanupError,
  PolisError,
  removeIfExistsSync,
  writeFileAtomicSync,
} from "../core/mod.ts";
import { createCgroup, readCgroupLayout } from "../security/mod.ts";
import type { Cgroup } from "../security/mod.ts";
import { mkfifo } from "../../ffi/mod.ts";
import { loadSpec } from "./spec.ts";
import { buildPlan, cgroupsPathOf, limitsFromSpec, validateId } from "./plan.ts";
import { cgroupMountPlans } from "./cgroup.ts";
import { reportError } from "./protocol.ts";
import { beginHelper, type HelperMode } from "./helpers.ts";
import {
  EXEC_FIFO,
  OCI_VERSION,
  type OciState,
  PLAN_FILE,
  procProbe,
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

function absolute(p: string): string {
  return p.startsWith("/") ? p : `${Deno.cwd()}/${p}`;
}

/**
 * Creates container `opts.id` from its bundle. Resolves to its state (status "created") once
 * the init waits for `start`. Validation happens before anything is made. With the default
 * helper the init is this process's own child: collect its exit with a `Reaper` (or it stays
 * a zombie until this process ends).
 */
export async function createContainer(
  cfg: RuntimeConfig,
  opts: CreateOptions,
  helper: HelperMode = "worker",
): Promise<OciState> {
  validateId(opts.id);
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

  // Valid: from here on the init may already be starting (helper "worker"); until go() it
  // touches nothing and leaves on abort().
  const pending = beginHelper(helper, {
    stateDir,
    namespaces: plan.namespaces,
    quiet: opts.stdio !== undefined,
    spareWorker: cfg.spareSetupWorker,
  });
  let released = false;
  const cfgAbs: RuntimeConfig = { stateRoot };
  let cgroup: Cgroup | null = null;
  let made = false;
  try {
    Deno.mkdirSync(stateRoot, { recursive: true, mode: 0o711 });
    try {
      Deno.mkdirSync(stateDir, { mode: 0o700 });
    } catch (e) {
      if (e instanceof Deno.errors.AlreadyExists) {
        throw PolisError.conflict(`container ${opts.id} already exists`);
      }
      throw e;
    }
    made = true;
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
    writeStored(cfgAbs, stored);
    mkfifo(`${stateDir}/${EXEC_FIFO}`, 0o600);
    cgroup = createCgroup(cgroupsPath, limits);
    const procsFiles = cgroup.procsFiles();
    stored.cgroupDirs = procsFiles.map((f) => f.slice(0, f.lastIndexOf("/")));
    writeStored(cfgAbs, stored);
    const join = cgroup.joinFiles();
    plan.cgroup = {
      joinFiles: join.byThread,
      earlyJoinFiles: join.byPid,
      mounts: cgroupMountPlans(procsFiles, readCgroupLayout()),
    };
    writeFileAtomicSync(`${stateDir}/${PLAN_FILE}`, JSON.stringify(plan), 0o600, {
      durable: false,
    });

    released = true;
    const result = await pending.go();
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
    if (!released) {
      try {
        await pending.abort();
      } catch (ce) {
        attachCleanupError(e, ce);
      }
    }
    if (cgroup) {
      try {
        await cgroup.destroy();
      } catch (ce) {
        attachCleanupError(e, ce);
      }
    }
    if (made) {
      try {
        removeIfExistsSync(stateDir, true);
      } catch (ce) {
        attachCleanupError(e, ce);
      }
    }
    throw e;
  }
}
