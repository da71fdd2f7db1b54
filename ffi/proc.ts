/**
 * Processes: pids, signals, pidfds, waiting, prctl, rlimits, exec.
 * @module
 */

import { errno, libc } from "./libc.ts";
import { arch } from "./arch.ts";
import { check, retryEintr } from "./check.ts";
import { addr, cstr, cstrArray } from "./cstr.ts";
import { Errno } from "./errno.ts";

export const WNOHANG = 1;
export const WUNTRACED = 2;
export const WEXITED = 4;
export const WNOWAIT = 0x01000000;
export const P_PID = 1;
export const P_PIDFD = 3;

export const PR_SET_PDEATHSIG = 1;
export const PR_SET_KEEPCAPS = 8;
export const PR_SET_NAME = 15;
export const PR_CAPBSET_READ = 23;
export const PR_CAPBSET_DROP = 24;
export const PR_SET_CHILD_SUBREAPER = 36;
export const PR_GET_CHILD_SUBREAPER = 37;
export const PR_SET_NO_NEW_PRIVS = 38;
export const PR_GET_NO_NEW_PRIVS = 39;
export const PR_CAP_AMBIENT = 47;
export const PR_CAP_AMBIENT_IS_SET = 1;
export const PR_CAP_AMBIENT_RAISE = 2;
export const PR_CAP_AMBIENT_LOWER = 3;
export const PR_CAP_AMBIENT_CLEAR_ALL = 4;

export const POLLIN = 0x1;
export const POLLOUT = 0x4;
export const POLLERR = 0x8;
export const POLLHUP = 0x10;
export const POLLNVAL = 0x20;

export const RLIM_INFINITY = 0xffffffffffffffffn;

/** RLIMIT_* numbers (the generic ones; x86_64 and aarch64 agree). */
export const RLIMITS: Readonly<Record<string, number>> = Object.freeze({
  RLIMIT_CPU: 0,
  RLIMIT_FSIZE: 1,
  RLIMIT_DATA: 2,
  RLIMIT_STACK: 3,
  RLIMIT_CORE: 4,
  RLIMIT_RSS: 5,
  RLIMIT_NPROC: 6,
  RLIMIT_NOFILE: 7,
  RLIMIT_MEMLOCK: 8,
  RLIMIT_AS: 9,
  RLIMIT_LOCKS: 10,
  RLIMIT_SIGPENDING: 11,
  RLIMIT_MSGQUEUE: 12,
  RLIMIT_NICE: 13,
  RLIMIT_RTPRIO: 14,
  RLIMIT_RTTIME: 15,
});

export function getpid(): number {
  return libc().getpid();
}

export function gettid(): number {
  return libc().gettid();
}

export function kill(pid: number, sig: number): void {
  check(libc().kill(pid, sig), "kill", [pid, sig]);
}

/** True if `pid` exists (zombies included); kill(pid, 0) semantics. */
export function processExists(pid: number): boolean {
  if (libc().kill(pid, 0) === 0) return true;
  return errno() === Errno.EPERM;
}

export function pidfdOpen(pid: number, flags = 0): number {
  return check(
    libc().syscall(BigInt(arch().sys.pidfd_open), BigInt(pid), BigInt(flags), 0n, 0n, 0n, 0n),
    "pidfd_open",
    [pid],
  );
}

export function pidfdSendSignal(pidfd: number, sig: number): void {
  check(
    libc().syscall(
      BigInt(arch().sys.pidfd_send_signal),
      BigInt(pidfd),
      BigInt(sig),
      0n,
      0n,
      0n,
      0n,
    ),
    "pidfd_send_signal",
    [pidfd, sig],
  );
}

/** A decoded wait status. */
export interface WaitStatus {
  pid: number;
  /** Set if the process exited normally. */
  exitCode?: number;
  /** Set if the process was killed by a signal. */
  signal?: number;
  coreDumped?: boolean;
}

export function decodeWaitStatus(pid: number, status: number): WaitStatus {
  const sig = status & 0x7f;
  if (sig === 0) return { pid, exitCode: (status >> 8) & 0xff };
  if (sig !== 0x7f) return { pid, signal: sig, coreDumped: (status & 0x80) !== 0 };
  return { pid }; // stopped/continued: only reported with WUNTRACED, which we never pass
}

/** waitpid(2). Returns null if WNOHANG was given and the child has not changed state. */
export function waitpid(pid: number, options = 0): WaitStatus | null {
  const st = new Int32Array(1);
  const r = retryEintr(() =>
    check(libc().waitpid(pid, new Uint8Array(st.buffer), options), "waitpid", [pid])
  );
  if (r === 0) return null;
  return decodeWaitStatus(r, st[0]);
}

/** waitid(P_PID, pid, WEXITED | options); null if nothing to report with WNOHANG. */
export function waitid(pid: number, options = 0): WaitStatus | null {
  const info = new Uint8Array(128);
  retryEintr(() => check(libc().waitid(P_PID, pid, info, WEXITED | options), "waitid", [pid]));
  const v = new DataView(info.buffer);
  const got = v.getInt32(16, true); // si_pid
  if (got === 0) return null;
  const code = v.getInt32(8, true); // si_code: CLD_EXITED 1, CLD_KILLED 2, CLD_DUMPED 3
  const status = v.getInt32(24, true);
  if (code === 1) return { pid: got, exitCode: status };
  return { pid: got, signal: status, coreDumped: code === 3 };
}

export function prctl(option: number, a2: number | bigint = 0, a3: number | bigint = 0): number {
  return check(
    libc().prctl(option, BigInt(a2), BigInt(a3), 0n, 0n),
    "prctl",
    [option, a2, a3],
  );
}

export function setChildSubreaper(): void {
  prctl(PR_SET_CHILD_SUBREAPER, 1);
}

export function setNoNewPrivs(): void {
  prctl(PR_SET_NO_NEW_PRIVS, 1);
}

export interface Rlimit {
  soft: bigint;
  hard: bigint;
}

/** prlimit(2) on `pid` (0 = self). Sets when `limit` is given; always returns the old one. */
export function prlimit(pid: number, resource: number, limit?: Rlimit): Rlimit {
  const nw = limit ? new BigUint64Array([limit.soft, limit.hard]) : null;
  const old = new BigUint64Array(2);
  check(
    libc().prlimit(
      pid,
      resource,
      nw ? new Uint8Array(nw.buffer) : null,
      new Uint8Array(old.buffer),
    ),
    "prlimit",
    [pid, resource, limit?.soft, limit?.hard],
  );
  return { soft: old[0], hard: old[1] };
}

export interface PollFd {
  fd: number;
  events: number;
}

/** poll(2); returns revents per entry. timeout in ms, -1 = forever. */
export function poll(fds: PollFd[], timeoutMs: number): number[] {
  const buf = new Uint8Array(8 * fds.length);
  const v = new DataView(buf.buffer);
  fds.forEach((f, i) => {
    v.setInt32(i * 8, f.fd, true);
    v.setInt16(i * 8 + 4, f.events, true);
  });
  retryEintr(() => check(libc().poll(buf, BigInt(fds.length), timeoutMs), "poll", []));
  return fds.map((_, i) => v.getInt16(i * 8 + 6, true));
}

/**
 * Marks every fd >= `first` close-on-exec (close_range(2) with
 * CLOSE_RANGE_CLOEXEC, Linux 5.11+). Returns false if the kernel lacks it.
 */
export function closeRangeCloexec(first: number): boolean {
  const CLOSE_RANGE_CLOEXEC = 4;
  const r = libc().syscall(
    BigInt(arch().sys.close_range),
    BigInt(first),
    0xffffffffn,
    BigInt(CLOSE_RANGE_CLOEXEC),
    0n,
    0n,
    0n,
  );
  return Number(r) === 0;
}

/**
 * Before execve: unblock every signal and set every disposition to default.
 * Handlers reset on exec anyway, but "ignored" and the mask survive it, and the
 * Deno runtime ignores SIGPIPE — a workload must not inherit that.
 */
export function resetSignalsForExec(): void {
  const SIG_SETMASK = 2;
  const empty = new Uint8Array(128);
  libc().sigprocmask(SIG_SETMASK, empty, null);
  // A zeroed struct kernel_sigaction is SIG_DFL with no flags on both ABIs. The raw syscall
  // also reaches 32 and 33, which glibc reserves and its wrappers refuse.
  const act = new BigUint64Array(4);
  const nr = BigInt(arch().sys.rt_sigaction);
  for (let s = 1; s <= 64; s++) {
    if (s === 9 || s === 19) continue; // SIGKILL, SIGSTOP
    libc().syscall(nr, BigInt(s), addr(act), 0n, 8n, 0n, 0n);
  }
}

/**
 * execve(2) from the calling thread. Returns only by throwing. Other threads of
 * a Deno process vanish on success, which is what makes this safe (DESIGN.md).
 */
export function execve(path: string, argv: readonly string[], envp: readonly string[]): never {
  const p = cstr(path);
  const a = cstrArray(argv);
  const e = cstrArray(envp);
  const ret = libc().execve(
    p,
    new Uint8Array(a.ptrs.buffer),
    new Uint8Array(e.ptrs.buffer),
  );
  // Reached only on failure; keep the string buffers alive until here.
  void a.keep;
  void e.keep;
  check(ret === 0 ? -1 : ret, "execve", [path]);
  throw new Error("unreachable");
}

/** Raw syscall(2) with up to six integer arguments. */
export function rawSyscall(nr: number, ...args: (number | bigint)[]): number {
  const a = [...args.map((x) => BigInt(x)), 0n, 0n, 0n, 0n, 0n, 0n].slice(0, 6);
  return check(libc().syscall(BigInt(nr), a[0], a[1], a[2], a[3], a[4], a[5]), "syscall", [nr]);
}
