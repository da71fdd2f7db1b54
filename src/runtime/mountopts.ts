/**
 * Pure translation of OCI mount options ("ro", "rbind", "nosuid", "mode=755", "rslave")
 * into mount(2) flags, propagation changes and the filesystem data string.
 * @module
 */

import {
  MS_BIND,
  MS_DIRSYNC,
  MS_LAZYTIME,
  MS_MANDLOCK,
  MS_NOATIME,
  MS_NODEV,
  MS_NODIRATIME,
  MS_NOEXEC,
  MS_NOSUID,
  MS_NOSYMFOLLOW,
  MS_PRIVATE,
  MS_RDONLY,
  MS_REC,
  MS_RELATIME,
  MS_REMOUNT,
  MS_SHARED,
  MS_SILENT,
  MS_SLAVE,
  MS_STRICTATIME,
  MS_SYNCHRONOUS,
  MS_UNBINDABLE,
} from "../../ffi/mod.ts";

/** option → [flags it sets, flags it clears]. */
const FLAG_OPTIONS: Record<string, [number, number]> = {
  ro: [MS_RDONLY, 0],
  rw: [0, MS_RDONLY],
  nosuid: [MS_NOSUID, 0],
  suid: [0, MS_NOSUID],
  nodev: [MS_NODEV, 0],
  dev: [0, MS_NODEV],
  noexec: [MS_NOEXEC, 0],
  exec: [0, MS_NOEXEC],
  sync: [MS_SYNCHRONOUS, 0],
  async: [0, MS_SYNCHRONOUS],
  dirsync: [MS_DIRSYNC, 0],
  remount: [MS_REMOUNT, 0],
  mand: [MS_MANDLOCK, 0],
  nomand: [0, MS_MANDLOCK],
  atime: [0, MS_NOATIME],
  noatime: [MS_NOATIME, 0],
  diratime: [0, MS_NODIRATIME],
  nodiratime: [MS_NODIRATIME, 0],
  relatime: [MS_RELATIME, 0],
  norelatime: [0, MS_RELATIME],
  strictatime: [MS_STRICTATIME, 0],
  nostrictatime: [0, MS_STRICTATIME],
  lazytime: [MS_LAZYTIME, 0],
  nolazytime: [0, MS_LAZYTIME],
  silent: [MS_SILENT, 0],
  loud: [0, MS_SILENT],
  nosymfollow: [MS_NOSYMFOLLOW, 0],
  symfollow: [0, MS_NOSYMFOLLOW],
  bind: [MS_BIND, 0],
  rbind: [MS_BIND | MS_REC, 0],
};

export const PROPAGATION_FLAGS: Record<string, number> = {
  private: MS_PRIVATE,
  rprivate: MS_PRIVATE | MS_REC,
  shared: MS_SHARED,
  rshared: MS_SHARED | MS_REC,
  slave: MS_SLAVE,
  rslave: MS_SLAVE | MS_REC,
  unbindable: MS_UNBINDABLE,
  runbindable: MS_UNBINDABLE | MS_REC,
};

/** Options that only matter to other runtimes or tools; accepted and ignored. */
const IGNORED = new Set(["tmpcopyup", "notmpcopyup", "defaults", "_netdev", "x-initrd.mount"]);

export interface ParsedMountOptions {
  /** MS_* flags for the mount call (includes MS_BIND / MS_REC for bind mounts). */
  flags: number;
  /** Propagation changes to apply after mounting, in order. */
  propagation: number[];
  /** The comma-joined filesystem-specific options ("mode=755,size=65536k"). */
  data: string;
  bind: boolean;
}

/** Parses OCI mount options; `type: "bind"` makes it a bind mount even without "bind". */
export function parseMountOptions(
  options: readonly string[] = [],
  type?: string,
): ParsedMountOptions {
  let flags = 0;
  const propagation: number[] = [];
  const data: string[] = [];
  for (const opt of options) {
    const f = FLAG_OPTIONS[opt];
    if (f) {
      flags = (flags | f[0]) & ~f[1];
    } else if (opt in PROPAGATION_FLAGS) {
      propagation.push(PROPAGATION_FLAGS[opt]);
    } else if (!IGNORED.has(opt)) {
      data.push(opt);
    }
  }
  const bind = type === "bind" || (flags & MS_BIND) !== 0;
  if (bind) flags |= MS_BIND;
  return { flags, propagation, data: data.join(","), bind };
}

/** Flags that need a remount after a bind mount (a bind ignores them on the first call). */
export const BIND_REMOUNT_FLAGS = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME |
  MS_NODIRATIME | MS_RELATIME | MS_STRICTATIME | MS_NOSYMFOLLOW;
