/**
 * Turns a -1 return into an ErrnoError, reading errno before anything else runs.
 * @module
 */

import { errno } from "./libc.ts";
import { ErrnoError } from "./errno.ts";

/** Returns `ret` unless it is -1 (or any negative value), then throws with errno. */
export function check(
  ret: number | bigint,
  syscall: string,
  args: unknown[],
  detail?: string,
): number {
  const n = Number(ret);
  if (n < 0) {
    const e = errno();
    throw new ErrnoError(syscall, e, args, detail);
  }
  return n;
}

/** Retries a call that failed with EINTR. */
export function retryEintr<T>(fn: () => T): T {
  for (;;) {
    try {
      return fn();
    } catch (e) {
      if (e instanceof ErrnoError && e.code === "EINTR") continue;
      throw e;
    }
  }
}
