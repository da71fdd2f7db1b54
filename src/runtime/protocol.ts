/**
 * The hand-offs between the processes that start a container, as one small typed protocol:
 * the caller may hold the init back on a "go" pipe until the plan is written; the init reports
 * one JSON line on the sync pipe to the helper; the helper reports one SetupResult to its
 * caller (a Worker's message, or `<stateDir>/setup-result.json` from a `_setup` process).
 * @module
 */

import type { ErrorCode } from "../core/mod.ts";
import { PolisError } from "../core/mod.ts";
import { ErrnoError } from "../../ffi/mod.ts";

/** Environment variable carrying the init's end of the sync pipe. */
export const SYNC_FD_ENV = "_POLIS_INIT_SYNC_FD";

/**
 * Environment variable carrying the read end of the "go" pipe, when the init is started
 * before its plan is written (so its start-up overlaps the caller's preparation): the init
 * reads one byte from it before anything else; end-of-file means "give up", and it exits
 * without touching anything.
 */
export const GO_FD_ENV = "_POLIS_INIT_GO_FD";

/**
 * For an init started ahead of its container: an fd of the host's mount namespace, which it
 * re-enters and copies anew at go, so it sees mounts made after it started (the rootfs).
 */
export const HOST_MNT_FD_ENV = "_POLIS_INIT_HOST_MNT_FD";

/** init → helper, once, after the rootfs is ready (or setting it up failed). */
export type SyncMessage = { ok: true } | { ok: false; error: string; code: ErrorCode };

/** helper → caller. `pid` is the init's pid in the caller's pid namespace. */
export type SetupResult = { ok: true; pid: number } | { ok: false; error: string; code: ErrorCode };

const CODES: ErrorCode[] = [
  "not_found",
  "conflict",
  "invalid_argument",
  "failed_precondition",
  "unavailable",
  "internal",
];

/** The error category of anything thrown while setting a container up. */
export function codeOf(err: unknown): ErrorCode {
  if (err instanceof PolisError) return err.code;
  if (err instanceof ErrnoError) {
    switch (err.code) {
      case "EINVAL":
      case "ENODEV":
      case "ENOTDIR":
        return "invalid_argument";
      case "EPERM":
      case "EACCES":
      case "EROFS":
        return "failed_precondition";
      case "ENOENT":
        return "not_found";
    }
  }
  return "internal";
}

export function failure(err: unknown): { ok: false; error: string; code: ErrorCode } {
  return { ok: false, error: err instanceof Error ? err.message : String(err), code: codeOf(err) };
}

/** Parses one report line; anything malformed becomes an internal failure. */
export function parseReport<T extends SyncMessage | SetupResult>(text: string): T {
  const line = text.split("\n")[0].trim();
  try {
    const v = JSON.parse(line);
    if (v && v.ok === true) return v as T;
    if (v && v.ok === false && typeof v.error === "string") {
      return { ok: false, error: v.error, code: CODES.includes(v.code) ? v.code : "internal" } as T;
    }
  } catch {
    // fall through
  }
  return {
    ok: false,
    error: `malformed report from container init: ${line.slice(0, 200)}`,
    code: "internal",
  } as T;
}

/** Turns a failed report back into a PolisError. */
export function reportError(r: { error: string; code: ErrorCode }): PolisError {
  return new PolisError(r.code, r.error);
}
