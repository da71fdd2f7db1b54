/**
 * The seam between the runtime and the kernel: every privileged call the runtime makes, as
 * one interface with the real implementation here and a recording fake for unit tests
 * (`recordingSyscalls`). Code that takes a `Syscalls` never calls ffi functions directly.
 * @module
 */

import * as ns from "./ns.ts";
import * as mnt from "./mount.ts";
import * as fs from "./fs.ts";
import * as proc from "./proc.ts";
import * as creds from "./creds.ts";
import * as spawn from "./spawn.ts";
import * as netif from "./netif.ts";

export interface Syscalls {
  // namespaces
  unshare(flags: number): void;
  setns(fd: number, nstype: number, what?: string): void;
  sethostname(name: string): void;
  /** Sets IFF_UP on a network interface of the calling thread's network namespace. */
  interfaceUp(name: string): void;
  // mounts
  mount(
    source: string | null,
    target: string,
    fstype: string | null,
    flags: number,
    data?: string | null,
  ): void;
  umount2(target: string, flags?: number): void;
  pivotRoot(newRoot: string, putOld: string): void;
  mountFlagsOf(path: string): number;
  mountSetattr(path: string, attrSet: number, attrClr?: number, recursive?: boolean): void;
  // files and descriptors
  open(path: string, flags: number, mode?: number): number;
  close(fd: number): void;
  dup2(oldfd: number, newfd: number): void;
  pipe2(flags?: number): [number, number];
  read(fd: number, buf: Uint8Array): number;
  writeAll(fd: number, data: Uint8Array | string): void;
  mknod(path: string, mode: number, major?: number, minor?: number): void;
  mkfifo(path: string, mode?: number): void;
  symlink(target: string, linkPath: string): void;
  chdir(path: string): void;
  umask(mask: number): number;
  setCloexec(fd: number, on: boolean): void;
  setNonblock(fd: number, on: boolean): void;
  poll(fds: proc.PollFd[], timeoutMs: number): number[];
  closeRangeCloexec(first: number): boolean;
  // processes
  getpid(): number;
  kill(pid: number, sig: number): void;
  processExists(pid: number): boolean;
  pidfdOpen(pid: number, flags?: number): number;
  pidfdSendSignal(pidfd: number, sig: number): void;
  waitpid(pid: number, options?: number): proc.WaitStatus | null;
  setChildSubreaper(): void;
  setNoNewPrivs(): void;
  prlimit(pid: number, resource: number, limit?: proc.Rlimit): proc.Rlimit;
  resetSignalsForExec(): void;
  execve(path: string, argv: readonly string[], envp: readonly string[]): never;
  posixSpawn(
    path: string,
    argv: readonly string[],
    envp: readonly string[],
    opts?: spawn.SpawnOptions,
  ): number;
  // credentials and capabilities
  setresuid(r: number, e: number, s: number): void;
  setresgid(r: number, e: number, s: number): void;
  setgroups(gids: readonly number[]): void;
  capget(pid?: number): creds.CapSets;
  capset(sets: creds.CapSets): void;
  lastCap(): number;
  capBoundingDrop(cap: number): void;
  capAmbientRaise(cap: number): void;
  capAmbientClearAll(): void;
  setKeepCaps(on: boolean): void;
}

/** The kernel. */
export const realSyscalls: Syscalls = {
  unshare: ns.unshare,
  setns: ns.setns,
  sethostname: ns.sethostname,
  interfaceUp: netif.interfaceUp,
  mount: mnt.mount,
  umount2: mnt.umount2,
  pivotRoot: mnt.pivotRoot,
  mountFlagsOf: mnt.mountFlagsOf,
  mountSetattr: mnt.mountSetattr,
  open: fs.open,
  close: fs.close,
  dup2: fs.dup2,
  pipe2: fs.pipe2,
  read: fs.read,
  writeAll: fs.writeAll,
  mknod: fs.mknod,
  mkfifo: fs.mkfifo,
  symlink: fs.symlink,
  chdir: fs.chdir,
  umask: fs.umask,
  setCloexec: fs.setCloexec,
  setNonblock: fs.setNonblock,
  poll: proc.poll,
  closeRangeCloexec: proc.closeRangeCloexec,
  getpid: proc.getpid,
  kill: proc.kill,
  processExists: proc.processExists,
  pidfdOpen: proc.pidfdOpen,
  pidfdSendSignal: proc.pidfdSendSignal,
  waitpid: proc.waitpid,
  setChildSubreaper: proc.setChildSubreaper,
  setNoNewPrivs: proc.setNoNewPrivs,
  prlimit: proc.prlimit,
  resetSignalsForExec: proc.resetSignalsForExec,
  execve: proc.execve,
  posixSpawn: spawn.posixSpawn,
  setresuid: creds.setresuid,
  setresgid: creds.setresgid,
  setgroups: creds.setgroups,
  capget: creds.capget,
  capset: creds.capset,
  lastCap: creds.lastCap,
  capBoundingDrop: creds.capBoundingDrop,
  capAmbientRaise: creds.capAmbientRaise,
  capAmbientClearAll: creds.capAmbientClearAll,
  setKeepCaps: creds.setKeepCaps,
};

/** One recorded call of the fake. */
export interface RecordedCall {
  name: keyof Syscalls;
  args: unknown[];
}

/**
 * A Syscalls that records every call and performs none. Each method returns a harmless
 * default (fd 3, 0 bytes, ...) unless `overrides` supplies an implementation; an override
 * may throw (e.g. an ErrnoError) to simulate a failing call.
 */
export function recordingSyscalls(
  overrides: Partial<Syscalls> = {},
): Syscalls & { calls: RecordedCall[]; named(name: keyof Syscalls): unknown[][] } {
  const calls: RecordedCall[] = [];
  const defaults: Partial<Record<keyof Syscalls, (...a: unknown[]) => unknown>> = {
    mountFlagsOf: () => 0,
    open: () => 3,
    pipe2: () => [3, 4],
    read: () => 0,
    umask: () => 0o022,
    poll: (fds) => (fds as unknown[]).map(() => 1),
    closeRangeCloexec: () => true,
    getpid: () => 1,
    processExists: () => false,
    pidfdOpen: () => 5,
    waitpid: () => null,
    prlimit: () => ({ soft: 0n, hard: 0n }),
    capget: () => ({ effective: 0n, permitted: 0n, inheritable: 0n }),
    lastCap: () => 40,
    execve: () => {
      throw new Error("fake execve");
    },
    posixSpawn: () => 100,
  };
  const names = Object.keys(realSyscalls) as (keyof Syscalls)[];
  const fake: Record<string, unknown> = {
    calls,
    named: (name: keyof Syscalls) => calls.filter((c) => c.name === name).map((c) => c.args),
  };
  for (const name of names) {
    fake[name] = (...args: unknown[]) => {
      calls.push({ name, args });
      const impl = (overrides[name] as ((...a: unknown[]) => unknown) | undefined) ??
        defaults[name];
      return impl ? impl(...args) : undefined;
    };
  }
  return fake as unknown as Syscalls & {
    calls: RecordedCall[];
    named(name: keyof Syscalls): unknown[][];
  };
}
