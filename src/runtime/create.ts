/**
 * `create`: validate the bundle, make the state directory, exec FIFO and cgroup, then have a
 * helper start the container's init, which builds the rootfs and waits on the FIFO. Nothing
 * is left behind on failure.
 * @module
 */

import {
  attachCleanupError,
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
import { parseReport, reportError, type SetupResult } from "./protocol.ts";
import { spawnInit } from "./setup.ts";
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
 * How the helper role is played: a separate `_setup` process ("process", what a daemon must
 * use), or this process ("inline", only for a process that exits right after, as `polis oci
 * create`: it leaves the calling thread in the container's uts/ipc/net namespaces and makes
 * its future children land in the container's pid namespace).
 */
export type HelperMode = "process" | "inline";

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

/** Helper role in this process; returns to the original mount namespace before any file I/O. */
async function runHelperInline(stateDir: string, planText: string): Promise<SetupResult> {
  const mntFd = open("/proc/thread-self/ns/mnt", O_RDONLY | O_CLOEXEC);
  let spawned;
  try {
    spawned = spawnInit(JSON.parse(planText), stateDir, "inherit");
  } finally {
    // The init's pivot_root moved this thread's root into the container: come back.
    try {
      setns(mntFd, CLONE_NEWNS, "the original mount namespace");
    } finally {
      closeQuiet(mntFd);
    }
  }
  if (spawned.result.ok) {
    spawned.child?.unref();
  } else if (spawned.child) {
    try {
      spawned.child.kill("SIGKILL");
    } catch {
      // already exited
    }
    await spawned.child.status;
  }
  return spawned.result;
}

/**
 * Creates container `opts.id` from its bundle. Resolves to its state (status "created") once
 * the init waits for `start`. Validation happens before anything is made.
 */
export async function createContainer(
  cfg: RuntimeConfig,
  opts: CreateOptions,
  helper: HelperMode = "process",
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

    const result = helper === "inline"
      ? await runHelperInline(stateDir, planText)
      : await runHelperProcess(stateDir, opts.stdio !== undefined);
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
