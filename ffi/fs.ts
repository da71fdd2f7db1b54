/**
 * File descriptors and filesystem calls that Deno's own API does not offer
 * (raw fds, FIFOs, device nodes, fd flags) or offers only asynchronously.
 * @module
 */

import { libc } from "./libc.ts";
import { arch, O_CLOEXEC } from "./arch.ts";
import { check, retryEintr } from "./check.ts";
import { addr, cstr } from "./cstr.ts";

export const AT_FDCWD = -100;
export const F_GETFD = 1;
export const F_SETFD = 2;
export const F_GETFL = 3;
export const F_SETFL = 4;
export const FD_CLOEXEC = 1;

export const S_IFMT = 0o170000;
export const S_IFIFO = 0o010000;
export const S_IFCHR = 0o020000;
export const S_IFDIR = 0o040000;
export const S_IFBLK = 0o060000;
export const S_IFREG = 0o100000;

export const RESOLVE_NO_XDEV = 0x01;
export const RESOLVE_NO_MAGICLINKS = 0x02;
export const RESOLVE_NO_SYMLINKS = 0x04;
export const RESOLVE_BENEATH = 0x08;
export const RESOLVE_IN_ROOT = 0x10;

export function open(path: string, flags: number, mode = 0): number {
  const p = cstr(path);
  return retryEintr(() => check(libc().open(p, flags, mode), "open", [path]));
}

export function openat(dirfd: number, path: string, flags: number, mode = 0): number {
  const p = cstr(path);
  return retryEintr(() => check(libc().openat(dirfd, p, flags, mode), "openat", [dirfd, path]));
}

/** openat2(2): `resolve` confines path resolution (RESOLVE_IN_ROOT etc.). */
export function openat2(
  dirfd: number,
  path: string,
  how: { flags: number; mode?: number; resolve: number },
): number {
  const p = cstr(path);
  const h = new BigUint64Array([BigInt(how.flags), BigInt(how.mode ?? 0), BigInt(how.resolve)]);
  return retryEintr(() =>
    check(
      libc().syscall(BigInt(arch().sys.openat2), BigInt(dirfd), addr(p), addr(h), 24n, 0n, 0n),
      "openat2",
      [dirfd, path],
    )
  );
}

export function close(fd: number): void {
  // Never retry close on EINTR: the fd is gone either way on Linux.
  check(libc().close(fd), "close", [fd]);
}

/** Closes and ignores errors; for cleanup paths. */
export function closeQuiet(fd: number): void {
  if (fd >= 0) libc().close(fd);
}

export function dup2(oldfd: number, newfd: number): void {
  retryEintr(() => check(libc().dup2(oldfd, newfd), "dup2", [oldfd, newfd]));
}

export function dup3(oldfd: number, newfd: number, flags: number): void {
  retryEintr(() => check(libc().dup3(oldfd, newfd, flags), "dup3", [oldfd, newfd]));
}

/** A pipe as [readFd, writeFd]. */
export function pipe2(flags = O_CLOEXEC): [number, number] {
  const fds = new Int32Array(2);
  check(libc().pipe2(new Uint8Array(fds.buffer), flags), "pipe2", [flags]);
  return [fds[0], fds[1]];
}

/** One read(2) into `buf`; returns the byte count (0 = EOF). */
export function read(fd: number, buf: Uint8Array): number {
  return retryEintr(() => check(libc().read(fd, buf, BigInt(buf.length)), "read", [fd]));
}

export function write(fd: number, data: Uint8Array): number {
  return retryEintr(() => check(libc().write(fd, data, BigInt(data.length)), "write", [fd]));
}

/** Writes every byte of `data` (a string is UTF-8 encoded). */
export function writeAll(fd: number, data: Uint8Array | string): void {
  let bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  while (bytes.length > 0) {
    const n = write(fd, bytes);
    bytes = bytes.subarray(n);
  }
}

/** Reads until EOF. */
export function readAll(fd: number): Uint8Array {
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const buf = new Uint8Array(4096);
    const n = read(fd, buf);
    if (n === 0) break;
    chunks.push(buf.subarray(0, n));
    total += n;
  }
  const out = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

/** The kernel's dev_t encoding used by mknodat(2) (12-bit major, 20-bit minor). */
export function makedev(major: number, minor: number): number {
  return ((minor & 0xff) | ((major & 0xfff) << 8) | ((minor & ~0xff) << 12)) >>> 0;
}

/** mknod(2) through the mknodat syscall, which exists on every glibc. */
export function mknod(path: string, mode: number, major = 0, minor = 0): void {
  const p = cstr(path);
  check(
    libc().syscall(
      BigInt(arch().sys.mknodat),
      BigInt(AT_FDCWD),
      addr(p),
      BigInt(mode),
      BigInt(makedev(major, minor)),
      0n,
      0n,
    ),
    "mknod",
    [path],
    `${JSON.stringify(path)}, 0${mode.toString(8)}, ${major}:${minor}`,
  );
}

export function mkfifo(path: string, mode = 0o600): void {
  check(libc().mkfifo(cstr(path), mode), "mkfifo", [path]);
}

export function symlink(target: string, linkPath: string): void {
  check(libc().symlink(cstr(target), cstr(linkPath)), "symlink", [target, linkPath]);
}

export function fchown(fd: number, uid: number, gid: number): void {
  check(libc().fchown(fd, uid, gid), "fchown", [fd, uid, gid]);
}

/** Sets the umask; returns the previous one. */
export function umask(mask: number): number {
  return libc().umask(mask);
}

export function chdir(path: string): void {
  check(libc().chdir(cstr(path)), "chdir", [path]);
}

export function fchdir(fd: number): void {
  check(libc().fchdir(fd), "fchdir", [fd]);
}

export function chroot(path: string): void {
  check(libc().chroot(cstr(path)), "chroot", [path]);
}

export function fcntl(fd: number, cmd: number, arg = 0): number {
  return retryEintr(() => check(libc().fcntl(fd, cmd, BigInt(arg)), "fcntl", [fd, cmd]));
}

export function setCloexec(fd: number, on: boolean): void {
  const cur = fcntl(fd, F_GETFD);
  fcntl(fd, F_SETFD, on ? cur | FD_CLOEXEC : cur & ~FD_CLOEXEC);
}

export function setNonblock(fd: number, on: boolean): void {
  const O_NONBLOCK = 0o4000;
  const cur = fcntl(fd, F_GETFL);
  fcntl(fd, F_SETFL, on ? cur | O_NONBLOCK : cur & ~O_NONBLOCK);
}

export function setxattr(path: string, name: string, value: Uint8Array, flags = 0): void {
  check(
    libc().setxattr(cstr(path), cstr(name), value, BigInt(value.length), flags),
    "setxattr",
    [path, name],
  );
}

export function lsetxattr(path: string, name: string, value: Uint8Array, flags = 0): void {
  check(
    libc().lsetxattr(cstr(path), cstr(name), value, BigInt(value.length), flags),
    "lsetxattr",
    [path, name],
  );
}

/** ioctl(2) with a pointer argument (or NULL). */
export function ioctl(fd: number, request: number | bigint, arg: Uint8Array | null = null): number {
  const p = arg === null ? null : Deno.UnsafePointer.of(arg);
  return check(libc().ioctl(fd, BigInt(request), p), "ioctl", [fd, request]);
}
