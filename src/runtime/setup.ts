/**
 * The helper role: on this process's main thread, join the namespaces the spec names by path
 * and create the new ones, then spawn the container's init (`_init`) with Deno.Command from
 * this same thread so it starts inside them (PID 1 of a new pid namespace), and wait for its
 * one-line report on a sync pipe. The daemon runs this in a short-lived `_setup` process so
 * its own namespaces never change; `polis oci create` runs it in-process.
 * @module
 */

import {
  CLONE_FS,
  CLONE_NEWCGROUP,
  closeQuiet,
  NAMESPACES,
  O_CLOEXEC,
  O_RDONLY,
  POLLIN,
  realSyscalls,
  type Syscalls,
} from "../../ffi/mod.ts";
import { PolisError, selfCommand } from "../core/mod.ts";
import type { InitPlan } from "./plan.ts";
import {
  failure,
  parseReport,
  type SetupResult,
  SYNC_FD_ENV,
  type SyncMessage,
} from "./protocol.ts";
import { PLAN_FILE, RESULT_FILE } from "./state.ts";

/** How long the helper waits for the init's report before killing it. */
export const INIT_REPORT_TIMEOUT_MS = 60_000;

/** Order of joining namespaces by path: mount last, its paths resolve in the old one. */
const JOIN_ORDER = ["ipc", "uts", "network", "pid", "cgroup", "time", "mount"] as const;

/**
 * Joins and creates the plan's namespaces on the calling thread. The cgroup namespace is
 * left to the init (it must be created after joining the container's cgroup).
 */
export function enterNamespaces(plan: InitPlan, sys: Syscalls = realSyscalls): void {
  const byPath = JOIN_ORDER.flatMap((t) => plan.namespaces.filter((n) => n.type === t && n.path));
  const fds = byPath.map((n) => {
    try {
      return { n, fd: sys.open(n.path!, O_RDONLY | O_CLOEXEC) };
    } catch (e) {
      throw PolisError.invalid(
        `cannot open ${n.type} namespace ${n.path}: ${(e as Error).message}`,
      );
    }
  });
  try {
    for (const { n, fd } of fds) {
      // setns into a mount namespace needs an fs_struct of our own (other threads share ours).
      if (n.type === "mount") sys.unshare(CLONE_FS);
      sys.setns(fd, NAMESPACES[n.type].flag, n.path);
    }
  } finally {
    for (const { fd } of fds) closeQuiet(fd);
  }
  let flags = 0;
  for (const n of plan.namespaces) {
    if (!n.path) flags |= NAMESPACES[n.type].flag;
  }
  flags &= ~CLONE_NEWCGROUP;
  if (flags !== 0) sys.unshare(flags);
}

export interface SpawnedInit {
  result: SetupResult;
  child: Deno.ChildProcess | null;
}

/** Reads the init's report line, or "" on EOF/timeout. */
function readReport(fd: number, timeoutMs: number, sys: Syscalls): string | null {
  const deadline = Date.now() + timeoutMs;
  let text = "";
  const buf = new Uint8Array(4096);
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0) return null;
    const [rev] = sys.poll([{ fd, events: POLLIN }], left);
    if (rev === 0) return null;
    const n = sys.read(fd, buf);
    if (n === 0) return text;
    text += new TextDecoder().decode(buf.subarray(0, n));
    if (text.includes("\n")) return text;
  }
}

/**
 * Enters the namespaces, spawns the init and waits for its report. Synchronous except for
 * the spawn itself, so nothing runs on other threads in between. `stdio: "inherit"` gives the
 * init this process's stdio (polis oci create); "null" when the init opens log files itself.
 */
export function spawnInit(
  plan: InitPlan,
  stateDir: string,
  stdio: "inherit" | "null",
  sys: Syscalls = realSyscalls,
  timeoutMs = INIT_REPORT_TIMEOUT_MS,
): SpawnedInit {
  enterNamespaces(plan, sys);
  const [r, w] = sys.pipe2(0); // no O_CLOEXEC: the init inherits the write end
  sys.setCloexec(r, true);
  let child: Deno.ChildProcess | null = null;
  try {
    const self = selfCommand();
    child = new Deno.Command(self[0], {
      args: [...self.slice(1), "_init", stateDir],
      env: { [SYNC_FD_ENV]: String(w), DENO_NO_UPDATE_CHECK: "1" },
      stdin: stdio,
      stdout: stdio,
      stderr: stdio,
    }).spawn();
  } catch (e) {
    closeQuiet(r);
    closeQuiet(w);
    return { result: failure(PolisError.internal(`cannot start the container init: ${e}`)), child };
  }
  closeQuiet(w);
  let text: string | null;
  try {
    text = readReport(r, timeoutMs, sys);
  } finally {
    closeQuiet(r);
  }
  if (text === null) {
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
    return {
      result: {
        ok: false,
        error: `container init did not report within ${timeoutMs} ms`,
        code: "unavailable",
      },
      child,
    };
  }
  if (text === "") {
    return {
      result: {
        ok: false,
        error: "container init exited before reporting (see its stderr)",
        code: "internal",
      },
      child,
    };
  }
  const msg = parseReport<SyncMessage>(text);
  return { result: msg.ok ? { ok: true, pid: child.pid } : msg, child };
}

/**
 * `_setup <stateDir>`: the daemon's short-lived helper. Reads the plan, spawns the init and
 * writes the SetupResult to `<stateDir>/setup-result.json` through an fd opened before any
 * namespace changes (the init's pivot_root also moves this thread's root). Exit code 0 when
 * the container is created.
 */
export async function runSetupHelper(args: string[]): Promise<number> {
  const stateDir = args[0];
  if (!stateDir) {
    console.error("polis _setup: missing state directory");
    return 2;
  }
  let out: Deno.FsFile;
  let plan: InitPlan;
  try {
    out = Deno.openSync(`${stateDir}/${RESULT_FILE}`, {
      write: true,
      create: true,
      truncate: true,
      mode: 0o600,
    });
    plan = JSON.parse(Deno.readTextFileSync(`${stateDir}/${PLAN_FILE}`)) as InitPlan;
  } catch (e) {
    console.error(`polis _setup: ${e instanceof Error ? e.message : e}`);
    return 2;
  }
  let spawned: SpawnedInit;
  try {
    spawned = spawnInit(plan, stateDir, plan.stdio ? "null" : "inherit");
  } catch (e) {
    spawned = { result: failure(e), child: null };
  }
  const bytes = new TextEncoder().encode(JSON.stringify(spawned.result) + "\n");
  let off = 0;
  while (off < bytes.length) off += out.writeSync(bytes.subarray(off));
  out.syncSync();
  out.close();
  if (spawned.result.ok) {
    // The init outlives us and is re-parented to the daemon (a child subreaper).
    spawned.child?.unref();
    return 0;
  }
  // Reap a failed init so it does not linger as a zombie of the daemon.
  if (spawned.child) {
    try {
      spawned.child.kill("SIGKILL");
    } catch {
      // already exited
    }
    await spawned.child.status;
  }
  return 1;
}
