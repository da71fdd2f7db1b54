/**
 * errno numbers, names and descriptions, and the error thrown by every syscall
 * wrapper. The numbers are the asm-generic ones, shared by x86_64 and aarch64.
 * @module
 */

const TABLE: [number, string, string][] = [
  [1, "EPERM", "Operation not permitted"],
  [2, "ENOENT", "No such file or directory"],
  [3, "ESRCH", "No such process"],
  [4, "EINTR", "Interrupted system call"],
  [5, "EIO", "Input/output error"],
  [6, "ENXIO", "No such device or address"],
  [7, "E2BIG", "Argument list too long"],
  [8, "ENOEXEC", "Exec format error"],
  [9, "EBADF", "Bad file descriptor"],
  [10, "ECHILD", "No child processes"],
  [11, "EAGAIN", "Resource temporarily unavailable"],
  [12, "ENOMEM", "Cannot allocate memory"],
  [13, "EACCES", "Permission denied"],
  [14, "EFAULT", "Bad address"],
  [15, "ENOTBLK", "Block device required"],
  [16, "EBUSY", "Device or resource busy"],
  [17, "EEXIST", "File exists"],
  [18, "EXDEV", "Invalid cross-device link"],
  [19, "ENODEV", "No such device"],
  [20, "ENOTDIR", "Not a directory"],
  [21, "EISDIR", "Is a directory"],
  [22, "EINVAL", "Invalid argument"],
  [23, "ENFILE", "Too many open files in system"],
  [24, "EMFILE", "Too many open files"],
  [25, "ENOTTY", "Inappropriate ioctl for device"],
  [26, "ETXTBSY", "Text file busy"],
  [27, "EFBIG", "File too large"],
  [28, "ENOSPC", "No space left on device"],
  [29, "ESPIPE", "Illegal seek"],
  [30, "EROFS", "Read-only file system"],
  [31, "EMLINK", "Too many links"],
  [32, "EPIPE", "Broken pipe"],
  [33, "EDOM", "Numerical argument out of domain"],
  [34, "ERANGE", "Numerical result out of range"],
  [35, "EDEADLK", "Resource deadlock avoided"],
  [36, "ENAMETOOLONG", "File name too long"],
  [37, "ENOLCK", "No locks available"],
  [38, "ENOSYS", "Function not implemented"],
  [39, "ENOTEMPTY", "Directory not empty"],
  [40, "ELOOP", "Too many levels of symbolic links"],
  [61, "ENODATA", "No data available"],
  [75, "EOVERFLOW", "Value too large for defined data type"],
  [95, "EOPNOTSUPP", "Operation not supported"],
  [110, "ETIMEDOUT", "Connection timed out"],
  [116, "ESTALE", "Stale file handle"],
  [122, "EDQUOT", "Disk quota exceeded"],
];

const BY_NUMBER = new Map<number, [string, string]>(TABLE.map(([n, name, d]) => [n, [name, d]]));
const BY_NAME = new Map<string, number>(TABLE.map(([n, name]) => [name, n]));

/** Symbolic errno constants for comparisons (`e.errno === Errno.ENOENT`). */
export const Errno = Object.freeze(Object.fromEntries(TABLE.map(([n, name]) => [name, n]))) as {
  readonly [name: string]: number;
};

export function errnoName(errno: number): string {
  return BY_NUMBER.get(errno)?.[0] ?? `E${errno}`;
}

export function errnoDescription(errno: number): string {
  return BY_NUMBER.get(errno)?.[1] ?? `errno ${errno}`;
}

export function errnoNumber(name: string): number | undefined {
  return BY_NAME.get(name);
}

/** Renders a syscall argument the way it reads best in an error message. */
function showArg(a: unknown): string {
  if (typeof a === "string") return JSON.stringify(a);
  if (typeof a === "bigint") return a.toString();
  return String(a);
}

/**
 * A failed system call: which call, with which interesting arguments, and the
 * errno as number and name. Message: `mount("overlay" on "/x"): EPERM (Operation not permitted)`.
 */
export class ErrnoError extends Error {
  readonly syscall: string;
  readonly args: readonly unknown[];
  readonly errno: number;
  /** errno name, e.g. "EPERM". */
  readonly code: string;

  constructor(syscall: string, errno: number, args: readonly unknown[] = [], detail?: string) {
    const shown = detail ?? args.map(showArg).join(", ");
    super(`${syscall}(${shown}): ${errnoName(errno)} (${errnoDescription(errno)})`);
    this.name = "ErrnoError";
    this.syscall = syscall;
    this.args = args;
    this.errno = errno;
    this.code = errnoName(errno);
  }

  /** True if this error's errno has the given name or number. */
  is(errno: string | number): boolean {
    return typeof errno === "number" ? this.errno === errno : this.code === errno;
  }
}

/** True if `err` is an ErrnoError with the given errno (name or number). */
export function isErrno(err: unknown, errno: string | number): boolean {
  return err instanceof ErrnoError && err.is(errno);
}
