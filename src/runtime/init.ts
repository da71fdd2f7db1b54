/**
 * The container's first process (`_init` mode). Started by the helper inside the new
 * namespaces, it is PID 1 of the new pid namespace. Before reporting to the helper it opens
 * what it needs from the host (exec FIFO, cgroup.procs files, log FIFOs), builds the rootfs
 * and pivots into it. Then it blocks on the exec FIFO until `start`, joins its cgroup (only
 * now, so this ~30 MiB Deno process is never charged to a small container's memory limit),
 * drops privileges and execs the workload. Synchronous calls only, all on the main thread:
 * pool threads would act in the wrong root (DESIGN.md).
 * @module
 */

import {
  bindNow,
  CLONE_FS,
  CLONE_NEWCGROUP,
  CLONE_NEWNS,
  ErrnoError,
  type LibcSymbolName,
  O_APPEND,
  O_CLOEXEC,
  O_CREAT,
  O_NONBLOCK,
  O_RDONLY,
  O_RDWR,
  O_WRONLY,
  POLLIN,
} from "../../ffi/mod.ts";
import { type InitEnv, realEnv, step } from "./initenv.ts";
import type { InitPlan } from "./plan.ts";
import { failure, GO_FD_ENV, HOST_MNT_FD_ENV, SYNC_FD_ENV } from "./protocol.ts";
import { finishRootfs, mountDeferred, pivotInto, prepareRootfs } from "./rootfs.ts";
import type { DeferredCgroupMount } from "./rootfs.ts";
import { lookPath, pathFromEnv } from "./lookpath.ts";
import { applyCredentials } from "./creds.ts";
import { PLAN_FILE } from "./state.ts";

/**
 * The libc symbols a typical init calls, bound in one go at its start (binding them one by
 * one on first use costs about 6 ms of the container's start).
 */
const INIT_SYMBOLS: readonly LibcSymbolName[] = [
  "__errno_location",
  "fcntl",
  "read",
  "write",
  "open",
  "close",
  "dup2",
  "socket",
  "ioctl",
  "mount",
  "umount2",
  "syscall",
  "symlink",
  "chdir",
  "statvfs",
  "sethostname",
  "setns",
  "poll",
  "unshare",
  "prctl",
  "setgroups",
  "setresgid",
  "setresuid",
  "umask",
  "sigprocmask",
  "prlimit",
  "execve",
];

/** What the init holds between setup and start. */
interface Prepared {
  execFifoFd: number;
  cgroupFds: number[];
  /** Opened like cgroupFds, joined right after the report (see JoinFiles.byPid). */
  earlyCgroupFds: number[];
  deferred: DeferredCgroupMount[];
  execPath: string;
  lastCap: number;
}

function openStdio(plan: InitPlan, env: InitEnv): void {
  const { sys, fs } = env;
  const io = plan.stdio;
  if (!io) return;
  const openOut = (path: string) => {
    // A FIFO opened read-write always has a reader, so the workload never gets EPIPE
    // while the daemon that drains it is down.
    const fifo = fs.stat(path)?.isFifo ?? false;
    return fifo
      ? sys.open(path, O_RDWR | O_CLOEXEC)
      : sys.open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640);
  };
  const inFd = step(
    `opening stdin ${io.stdin ?? "/dev/null"}`,
    () => sys.open(io.stdin ?? "/dev/null", (io.stdin ? O_RDWR : O_RDONLY) | O_CLOEXEC),
  );
  const outFd = step(`opening stdout ${io.stdout}`, () => openOut(io.stdout));
  const errFd = io.stderr === io.stdout
    ? outFd
    : step(`opening stderr ${io.stderr}`, () => openOut(io.stderr));
  sys.dup2(inFd, 0);
  sys.dup2(outFd, 1);
  sys.dup2(errFd, 2);
  for (const fd of new Set([inFd, outFd, errFd])) if (fd > 2) sys.close(fd);
}

/**
 * A network namespace made for this container starts with `lo` down; bring it up from in
 * here (the init already lives in it), as runc does for a new network namespace. A joined
 * namespace is left as its owner set it up.
 */
export function loopbackUp(plan: Pick<InitPlan, "namespaces">, env: InitEnv): void {
  if (!plan.namespaces.some((n) => n.type === "network" && !n.path)) return;
  step("bringing up the loopback interface", () => env.sys.interfaceUp("lo"));
}

/** Everything up to the report to the helper. */
export function prepare(plan: InitPlan, env: InitEnv): Prepared {
  const { sys } = env;
  openStdio(plan, env);
  loopbackUp(plan, env);
  const execFifoFd = step("opening the exec FIFO", () => {
    const fd = sys.open(plan.execFifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    sys.setNonblock(fd, false);
    return fd;
  });
  const openAll = (files: string[]) =>
    files.map((f) => step(`opening ${f}`, () => sys.open(f, O_WRONLY | O_CLOEXEC)));
  const cgroupFds = openAll(plan.cgroup.joinFiles);
  const earlyCgroupFds = openAll(plan.cgroup.earlyJoinFiles ?? []);
  const lastCap = sys.lastCap();
  const deferred = prepareRootfs(plan, env);
  pivotInto(plan.rootfs, env);
  finishRootfs(plan, env);
  const p = plan.process;
  const execPath = lookPath(p.args[0], pathFromEnv(p.env), p.cwd, env.fs);
  return { execFifoFd, cgroupFds, earlyCgroupFds, deferred, execPath, lastCap };
}

/**
 * Joins the cgroups that carry no limits (hybrid's cgroup2 placement) while the caller still
 * sets up the network: moving a whole multi-threaded process there waits for an RCU grace
 * period, which this keeps off the start. Best effort: that placement only makes the
 * container visible to cgroup2 tools, and stderr is already the container's log.
 */
function joinEarly(fds: number[], env: InitEnv): void {
  for (const fd of fds) {
    try {
      env.sys.writeAll(fd, "0");
    } catch {
      // see above
    }
    env.sys.close(fd);
  }
}

/** Blocks until `start` writes to the exec FIFO. False if it was closed without a byte. */
export function waitForStart(fd: number, env: InitEnv): boolean {
  const { sys } = env;
  // A FIFO that never had a writer reports no POLLHUP, so this sleeps until start opens it.
  sys.poll([{ fd, events: POLLIN }], -1);
  const buf = new Uint8Array(1);
  const n = sys.read(fd, buf);
  sys.close(fd);
  return n === 1;
}

/** From start to execve. Returns only by throwing. */
export function launch(plan: InitPlan, prep: Prepared, env: InitEnv): never {
  const { sys } = env;
  step("joining the container's cgroup", () => {
    for (const fd of prep.cgroupFds) {
      sys.writeAll(fd, "0");
      sys.close(fd);
    }
  });
  if (plan.newCgroupNs) {
    step("creating the cgroup namespace", () => sys.unshare(CLONE_NEWCGROUP));
    mountDeferred(prep.deferred, env);
  }
  const p = plan.process;
  for (const r of p.rlimits) {
    step(
      `setting ${r.name}`,
      () => sys.prlimit(0, r.resource, { soft: BigInt(r.soft), hard: BigInt(r.hard) }),
    );
  }
  if (p.noNewPrivileges) step("setting no_new_privs", () => sys.setNoNewPrivs());
  applyCredentials(p, prep.lastCap, sys);
  sys.umask(p.umask ?? 0o022);
  sys.resetSignalsForExec();
  if (!sys.closeRangeCloexec(3)) {
    for (const e of Deno.readDirSync("/proc/self/fd")) {
      const fd = Number(e.name);
      if (fd > 2) {
        try {
          sys.setCloexec(fd, true);
        } catch {
          // the fd of the directory listing itself is gone by now
        }
      }
    }
  }
  return sys.execve(prep.execPath, p.args, p.env);
}

function writeStderr(msg: string): void {
  try {
    Deno.stderr.writeSync(new TextEncoder().encode(msg.endsWith("\n") ? msg : msg + "\n"));
  } catch {
    // nowhere left to report
  }
}

/** Exit code for a failed execve: 127 when the file is missing, 126 otherwise (as docker). */
export function execFailureCode(err: unknown): number {
  return err instanceof ErrnoError && err.code === "ENOENT" ? 127 : 126;
}

/**
 * Waits for the caller's go on the fd in GO_FD_ENV, if set: one byte 1, then optionally the
 * state dir (for an init started ahead of its container, `_init -`), then end-of-file.
 * Returns what followed the byte ("" without a go pipe), or null when the caller gave up
 * (end-of-file first): then nothing may be touched, the plan may not even exist.
 */
export function waitForGo(env: InitEnv, goFdText = Deno.env.get(GO_FD_ENV)): string | null {
  if (goFdText === undefined) return "";
  const { sys } = env;
  const fd = Number(goFdText);
  sys.setCloexec(fd, true);
  const chunks: Uint8Array[] = [];
  const buf = new Uint8Array(4096);
  try {
    for (let total = 0; total <= MAX_GO_BYTES;) {
      const n = sys.read(fd, buf);
      if (n <= 0) break;
      chunks.push(buf.slice(0, n));
      total += n;
    }
  } finally {
    sys.close(fd);
  }
  const all = new Uint8Array(chunks.reduce((a, c) => a + c.length, 0));
  let at = 0;
  for (const c of chunks) all.set(c, (at += c.length) - c.length);
  if (all[0] !== 1) return null;
  return new TextDecoder().decode(all.subarray(1));
}

/**
 * An init started ahead of its container holds a copy of the host's mounts from back then,
 * without the container's rootfs: re-enter the host's mount namespace and copy it anew.
 * Only this (main) thread does mount work, so only its fs_struct has to follow.
 */
function freshMountNamespace(env: InitEnv, fdText = Deno.env.get(HOST_MNT_FD_ENV)): void {
  const { sys } = env;
  const fd = Number(fdText);
  if (fdText === undefined || !Number.isInteger(fd)) {
    throw new Error("started ahead without the host's mount namespace");
  }
  step("copying the host's mount namespace", () => {
    sys.unshare(CLONE_FS);
    sys.setns(fd, CLONE_NEWNS, "the host's mount namespace");
    sys.close(fd);
    sys.unshare(CLONE_NEWNS);
  });
}

/** A state dir path is far shorter; more means a confused caller. */
const MAX_GO_BYTES = 8192;

/**
 * `_init <stateDir|->`: the sync pipe's fd comes in SYNC_FD_ENV, the optional go pipe's in
 * GO_FD_ENV. Returns the exit code on failure; on success the process has become the
 * workload.
 */
export function runInit(args: string[], env: InitEnv = realEnv): number {
  const { sys } = env;
  let stateDir = args[0];
  const syncFd = Number(Deno.env.get(SYNC_FD_ENV));
  if (!stateDir || !Number.isInteger(syncFd) || syncFd < 3) {
    writeStderr("polis init: must be started by the runtime (missing state dir or sync fd)");
    return 2;
  }
  let plan: InitPlan;
  let prep: Prepared;
  try {
    if (env === realEnv) bindNow(INIT_SYMBOLS);
    sys.setCloexec(syncFd, true);
    const go = waitForGo(env);
    if (go === null) return 1;
    // "-": started ahead of its container (a spare); the state dir comes with the go.
    if (stateDir === "-") {
      stateDir = go;
      freshMountNamespace(env);
    }
    if (!stateDir.startsWith("/")) throw new Error(`no state dir given with the go: "${go}"`);
    plan = JSON.parse(env.files.readFile(`${stateDir}/${PLAN_FILE}`)) as InitPlan;
    prep = prepare(plan, env);
    sys.writeAll(syncFd, JSON.stringify({ ok: true }) + "\n");
    sys.close(syncFd);
    joinEarly(prep.earlyCgroupFds, env);
  } catch (e) {
    try {
      sys.writeAll(syncFd, JSON.stringify(failure(e)) + "\n");
    } catch {
      writeStderr(`polis init: ${e instanceof Error ? e.message : e}`);
    }
    return 1;
  }
  if (!waitForStart(prep.execFifoFd, env)) {
    writeStderr("polis init: the exec FIFO was closed without a start");
    return 1;
  }
  try {
    return launch(plan, prep, env);
  } catch (e) {
    const cause = e instanceof Error && e.cause instanceof ErrnoError ? e.cause : e;
    const isExec = cause instanceof ErrnoError && cause.syscall === "execve";
    writeStderr(`polis init: ${e instanceof Error ? e.message : e}`);
    return isExec ? execFailureCode(cause) : 1;
  }
}
