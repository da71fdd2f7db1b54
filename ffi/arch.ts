/**
 * What differs between the two architectures Polis runs on: syscall numbers for
 * the calls glibc has no wrapper for (or an unreliable one), and the open(2)
 * flags that x86 and the generic ABI number differently. Chosen at run time.
 * @module
 */

export type Arch = "x86_64" | "aarch64";

export interface ArchTable {
  readonly sys: {
    readonly pivot_root: number;
    readonly capget: number;
    readonly capset: number;
    readonly mknodat: number;
    readonly pidfd_open: number;
    readonly pidfd_send_signal: number;
    readonly openat2: number;
    readonly close_range: number;
    readonly rt_sigaction: number;
    readonly mount_setattr: number;
  };
  readonly O_DIRECTORY: number;
  readonly O_NOFOLLOW: number;
}

const TABLES: Record<Arch, ArchTable> = {
  x86_64: {
    sys: {
      pivot_root: 155,
      capget: 125,
      capset: 126,
      mknodat: 259,
      pidfd_open: 434,
      pidfd_send_signal: 424,
      openat2: 437,
      close_range: 436,
      rt_sigaction: 13,
      mount_setattr: 442,
    },
    O_DIRECTORY: 0o200000,
    O_NOFOLLOW: 0o400000,
  },
  aarch64: {
    sys: {
      pivot_root: 41,
      capget: 90,
      capset: 91,
      mknodat: 33,
      pidfd_open: 434,
      pidfd_send_signal: 424,
      openat2: 437,
      close_range: 436,
      rt_sigaction: 134,
      mount_setattr: 442,
    },
    O_DIRECTORY: 0o40000,
    O_NOFOLLOW: 0o100000,
  },
};

export function archTable(arch: string = Deno.build.arch): ArchTable {
  const t = TABLES[arch as Arch];
  if (!t) throw new Error(`unsupported architecture ${arch}: Polis supports x86_64 and aarch64`);
  return t;
}

let current: ArchTable | undefined;

/** The table for the architecture this process runs on. */
export function arch(): ArchTable {
  return current ??= archTable();
}

/** open(2) flags common to x86_64 and aarch64. */
export const O_RDONLY = 0;
export const O_WRONLY = 1;
export const O_RDWR = 2;
export const O_CREAT = 0o100;
export const O_EXCL = 0o200;
export const O_NOCTTY = 0o400;
export const O_TRUNC = 0o1000;
export const O_APPEND = 0o2000;
export const O_NONBLOCK = 0o4000;
export const O_CLOEXEC = 0o2000000;
export const O_PATH = 0o10000000;
