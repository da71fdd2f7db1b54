/**
 * mount(2), umount2(2), pivot_root(2) and the flags a runtime needs.
 * @module
 */

import { libc } from "./libc.ts";
import { arch } from "./arch.ts";
import { check } from "./check.ts";
import { addr, cstr } from "./cstr.ts";

export const MS_RDONLY = 1;
export const MS_NOSUID = 2;
export const MS_NODEV = 4;
export const MS_NOEXEC = 8;
export const MS_SYNCHRONOUS = 16;
export const MS_REMOUNT = 32;
export const MS_MANDLOCK = 64;
export const MS_DIRSYNC = 128;
export const MS_NOSYMFOLLOW = 256;
export const MS_NOATIME = 1024;
export const MS_NODIRATIME = 2048;
export const MS_BIND = 4096;
export const MS_MOVE = 8192;
export const MS_REC = 16384;
export const MS_SILENT = 32768;
export const MS_UNBINDABLE = 1 << 17;
export const MS_PRIVATE = 1 << 18;
export const MS_SLAVE = 1 << 19;
export const MS_SHARED = 1 << 20;
export const MS_RELATIME = 1 << 21;
export const MS_STRICTATIME = 1 << 24;
export const MS_LAZYTIME = 1 << 25;

export const MOUNT_ATTR_RDONLY = 0x1;
export const MOUNT_ATTR_NOSUID = 0x2;
export const MOUNT_ATTR_NODEV = 0x4;
export const MOUNT_ATTR_NOEXEC = 0x8;
export const AT_RECURSIVE = 0x8000;

export const MNT_FORCE = 1;
export const MNT_DETACH = 2;
export const MNT_EXPIRE = 4;
export const UMOUNT_NOFOLLOW = 8;

/** `mount(source, target, fstype, flags, data)`; null passes NULL. */
export function mount(
  source: string | null,
  target: string,
  fstype: string | null,
  flags: number,
  data: string | null = null,
): void {
  const s = source === null ? null : cstr(source);
  const t = cstr(target);
  const f = fstype === null ? null : cstr(fstype);
  const d = data === null || data === "" ? null : cstr(data);
  const ret = libc().mount(s, t, f, BigInt(flags), d);
  if (ret !== 0) {
    const what = flags & MS_REMOUNT
      ? `remount ${JSON.stringify(target)}`
      : flags & (MS_PRIVATE | MS_SLAVE | MS_SHARED | MS_UNBINDABLE) && source === null
      ? `propagation of ${JSON.stringify(target)}`
      : `${JSON.stringify(source ?? fstype ?? "none")} on ${JSON.stringify(target)}`;
    check(ret, "mount", [source, target, fstype, flags, data], what);
  }
}

export function umount2(target: string, flags = 0): void {
  check(libc().umount2(cstr(target), flags), "umount2", [target]);
}

export function pivotRoot(newRoot: string, putOld: string): void {
  const n = cstr(newRoot);
  const o = cstr(putOld);
  const p = (b: Uint8Array) => BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(b)));
  check(
    libc().syscall(BigInt(arch().sys.pivot_root), p(n), p(o), 0n, 0n, 0n, 0n),
    "pivot_root",
    [newRoot, putOld],
  );
}

const ST_TO_MS: [number, number][] = [
  [1, MS_RDONLY],
  [2, MS_NOSUID],
  [4, MS_NODEV],
  [8, MS_NOEXEC],
  [16, MS_SYNCHRONOUS],
  [64, MS_MANDLOCK],
  [1024, MS_NOATIME],
  [2048, MS_NODIRATIME],
  [4096, MS_RELATIME],
];

/**
 * The per-mount flags of the mount holding `path`, as MS_* bits. A bind remount
 * replaces all of them, so callers keep these to not silently drop nosuid etc.
 */
export function mountFlagsOf(path: string): number {
  const buf = new Uint8Array(112); // sizeof(struct statvfs) on both 64-bit ABIs
  check(libc().statvfs(cstr(path), buf), "statvfs", [path]);
  const st = Number(new DataView(buf.buffer).getBigUint64(72, true)); // f_flag
  let ms = 0;
  for (const [s, m] of ST_TO_MS) if (st & s) ms |= m;
  return ms;
}

/**
 * mount_setattr(2) (Linux 5.12+): changes mount attributes, for a whole subtree when
 * `recursive` — the only way to make every submount of an rbind read-only in one step.
 */
export function mountSetattr(path: string, attrSet: number, attrClr = 0, recursive = true): void {
  const p = cstr(path);
  const attr = new BigUint64Array([BigInt(attrSet), BigInt(attrClr), 0n, 0n]);
  check(
    libc().syscall(
      BigInt(arch().sys.mount_setattr),
      -100n, // AT_FDCWD
      addr(p),
      BigInt(recursive ? AT_RECURSIVE : 0),
      addr(attr),
      32n,
      0n,
    ),
    "mount_setattr",
    [path, attrSet],
  );
}
