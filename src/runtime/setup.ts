/**
 * The helper role: on one thread, join the namespaces the spec names by path and create the
 * new ones, then spawn the container's init (`_init`) with glibc's posix_spawn from this same
 * thread so it starts inside them (PID 1 of a new pid namespace), and wait for its one-line
 * report on a sync pipe. The daemon plays this role on a throwaway Worker thread
 * (setup-worker.ts), so its main thread never changes namespaces; it can also use a
 * short-lived `_setup` process; `polis oci create` plays it on its own main thread.
 * @module
 */

import {
  CLONE_FS,
  CLONE_NEWCGROUP,
  closeQuiet,
  NAMESPACES,
  O_CLOEXEC,
  O_RDONLY,
  O_RDWR,
  POLLIN,
  realSyscalls,
  SIGNALS,
  type Syscalls,
} from "../../ffi/mod.ts";
import { PolisError, selfCommand } from "../core/mod.ts";
import type { InitPlan } from "./plan.ts";
import {
  failure,
  GO_FD_ENV,
  HOST_MNT_FD_ENV,
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
export function enterNamespaces(
  plan: Pick<InitPlan, "namespaces">,
  sys: Syscalls = realSyscalls,
): void {
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

/** How to start the init: the polis executable, its leading arguments and environment. */
export interface InitCommand {
  /** Absolute path of the executable (resolved in the host, before any namespace changes). */
  path: string;
  /** argv up to, not including, `_init <stateDir>`. */
  argv: string[];
  /** KEY=value, without the sync fd (added per spawn). */
  env: string[];
}

function resolveExecutable(name: string): string {
  if (name.includes("/")) return name.startsWith("/") ? name : `${Deno.cwd()}/${name}`;
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    const p = `${dir || "."}/${name}`;
    try {
      const st = Deno.statSync(p);
      if (st.isFile && ((st.mode ?? 0) & 0o111) !== 0) return resolveExecutable(p);
    } catch {
      // not here
    }
  }
  throw PolisError.internal(`cannot find the polis executable ${name} in $PATH`);
}

/** The init's own entry, for `deno run` (see init-main.ts); null where it is not on disk. */
function initEntry(): string | null {
  const url = new URL("./init-main.ts", import.meta.url);
  if (url.protocol !== "file:") return null;
  try {
    return Deno.statSync(url).isFile ? url.href : null;
  } catch {
    return null; // a bundle: this module is part of one file
  }
}

/**
 * The command line of `_init` for this process (see selfCommand; under `deno run` of our own
 * main module, init-main.ts instead) and the environment it passes on, as Deno.Command
 * would: ours plus DENO_NO_UPDATE_CHECK. Call it on the main thread; a Worker receives it.
 */
export function initCommand(): InitCommand {
  const self = selfCommand();
  if (!Deno.env.get("POLIS_SELF") && self.length > 1 && self.at(-1) === Deno.mainModule) {
    const entry = initEntry();
    if (entry) self[self.length - 1] = entry;
  }
  const env = Object.entries(Deno.env.toObject())
    .filter(([k]) => ![SYNC_FD_ENV, GO_FD_ENV, HOST_MNT_FD_ENV, "DENO_NO_UPDATE_CHECK"].includes(k))
    .map(([k, v]) => `${k}=${v}`);
  env.push("DENO_NO_UPDATE_CHECK=1");
  return { path: resolveExecutable(self[0]), argv: self, env };
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

/** Kills a failed init and collects it, so it lingers neither as a process nor a zombie. */
function reapFailed(pid: number, sys: Syscalls): void {
  try {
    sys.kill(pid, SIGNALS.SIGKILL);
  } catch {
    // already exited
  }
  try {
    sys.waitpid(pid, 0);
  } catch {
    // not ours to wait for (ECHILD): nothing lingers here
  }
}

/** The lowest fd >= 3 not in `taken`: a fixed number for one of the init's pipe ends. */
export function syncFdTarget(taken: readonly number[]): number {
  let fd = 3;
  while (taken.includes(fd)) fd++;
  return fd;
}

/** What spawnInit needs; plain data, so a Worker can receive it as a message. */
export interface SpawnRequest {
  namespaces: InitPlan["namespaces"];
  stateDir: string;
  /** "inherit": the init gets this process's stdio (polis oci create); "null": it opens its own. */
  stdio: "inherit" | "null";
  cmd: InitCommand;
  /** Read end of a go pipe (close-on-exec): the init waits for one byte on it (GO_FD_ENV). */
  goFd?: number;
  /** How long to wait for the init's report (default INIT_REPORT_TIMEOUT_MS). */
  reportTimeoutMs?: number;
  /** Started ahead of its container: pass it this thread's mount namespace (HOST_MNT_FD_ENV). */
  ahead?: boolean;
}

/**
 * Enters the namespaces, spawns the init with posix_spawn from the calling thread (so it is
 * PID 1 of a new pid namespace and lives in the new ones) and waits for its report. All
 * synchronous: nothing may run on other threads in between. A failed init is killed and
 * reaped here; a successful one is the caller's child, which nobody but the caller (or its
 * subreaper) will ever wait for.
 */
export function spawnInit(
  req: SpawnRequest,
  sys: Syscalls = realSyscalls,
  timeoutMs = INIT_REPORT_TIMEOUT_MS,
): SetupResult {
  // Opened before the namespaces change: a joined mount namespace may have no /dev/null.
  // Everything is close-on-exec, so a concurrent spawn elsewhere in the process inherits
  // none of it; the init gets its copies through dup2 in the child.
  const nullFd = req.stdio === "null" ? sys.open("/dev/null", O_RDWR | O_CLOEXEC) : -1;
  let r = -1;
  let w = -1;
  let mntFd = -1;
  try {
    if (req.ahead) mntFd = sys.open("/proc/thread-self/ns/mnt", O_RDONLY | O_CLOEXEC);
    [r, w] = sys.pipe2(O_CLOEXEC);
    enterNamespaces(req, sys);
    // Targets >= 3 that are no source: no dup2 can overwrite a source before it is copied.
    // The pipes first: if one is 0, 1 or 2 the stdio dup2s below overwrite it.
    const sources = [w, nullFd, req.goFd ?? -1, mntFd];
    const syncTarget = syncFdTarget(sources);
    const env = [...req.cmd.env, `${SYNC_FD_ENV}=${syncTarget}`];
    const dup2: [number, number][] = [[w, syncTarget]];
    if (req.goFd !== undefined) {
      const goTarget = syncFdTarget([...sources, syncTarget]);
      dup2.push([req.goFd, goTarget]);
      env.push(`${GO_FD_ENV}=${goTarget}`);
      if (mntFd >= 0) {
        const mntTarget = syncFdTarget([...sources, syncTarget, goTarget]);
        dup2.push([mntFd, mntTarget]);
        env.push(`${HOST_MNT_FD_ENV}=${mntTarget}`);
      }
    }
    if (nullFd >= 0) { for (const fd of [0, 1, 2]) if (fd !== nullFd) dup2.push([nullFd, fd]); }
    let pid: number;
    try {
      pid = sys.posixSpawn(req.cmd.path, [...req.cmd.argv, "_init", req.stateDir], env, { dup2 });
    } catch (e) {
      return failure(PolisError.internal(`cannot start the container init: ${errText(e)}`));
    }
    sys.close(w);
    w = -1;
    timeoutMs = req.reportTimeoutMs ?? timeoutMs;
    const text = readReport(r, timeoutMs, sys);
    if (text === null) {
      reapFailed(pid, sys);
      return {
        ok: false,
        error: `container init did not report within ${timeoutMs} ms`,
        code: "unavailable",
      };
    }
    if (text === "") {
      reapFailed(pid, sys);
      return {
        ok: false,
        error: "container init exited before reporting (see its stderr)",
        code: "internal",
      };
    }
    const msg = parseReport<SyncMessage>(text);
    if (!msg.ok) reapFailed(pid, sys);
    return msg.ok ? { ok: true, pid } : msg;
  } finally {
    for (const fd of [r, w, nullFd, mntFd]) closeBy(sys, fd);
  }
}

function closeBy(sys: Syscalls, fd: number): void {
  if (fd < 0) return;
  try {
    sys.close(fd);
  } catch {
    // cleanup only
  }
}

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * `_setup <stateDir>`: the daemon's short-lived helper. Reads the plan, spawns the init and
 * writes the SetupResult to `<stateDir>/setup-result.json` through an fd opened before any
 * namespace changes (the init's pivot_root also moves this thread's root). Exit code 0 when
 * the container is created.
 */
export function runSetupHelper(args: string[]): number {
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
  let result: SetupResult;
  try {
    result = spawnInit({
      namespaces: plan.namespaces,
      stateDir,
      stdio: plan.stdio ? "null" : "inherit",
      cmd: initCommand(),
    });
  } catch (e) {
    result = failure(e);
  }
  const bytes = new TextEncoder().encode(JSON.stringify(result) + "\n");
  let off = 0;
  while (off < bytes.length) off += out.writeSync(bytes.subarray(off));
  out.syncSync();
  out.close();
  // On success the init outlives us and is re-parented to the daemon (a child subreaper).
  return result.ok ? 0 : 1;
}
