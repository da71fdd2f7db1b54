/**
 * The few privileged filesystem calls layer handling needs beyond Deno's and
 * node:fs's: creating device nodes (overlay whiteouts are 0:0 character
 * devices) and setting extended attributes (overlay's opaque marker). Kept
 * behind a small interface so unit tests use a recording fake and the real
 * calls come only from `ffi/`.
 * @module
 */

import * as ffi from "../../ffi/mod.ts";
import { logger } from "../core/log.ts";

export interface FsOps {
  /** mknod(2): `mode` includes the file type bits (S_IFCHR, S_IFBLK, S_IFIFO). */
  mknod(path: string, mode: number, major: number, minor: number): void;
  /** lsetxattr(2): sets an extended attribute without following a final symlink. */
  lsetxattr(path: string, name: string, value: Uint8Array): void;
}

export const S_IFMT = 0o170000;
export const S_IFIFO = 0o010000;
export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;
export const OVERLAY_OPAQUE_XATTR = "trusted.overlay.opaque";

/** The real calls, through `ffi/`. */
export const hostFsOps: FsOps = {
  mknod: (path, mode, major, minor) => ffi.mknod(path, mode, major, minor),
  lsetxattr: (path, name, value) => ffi.lsetxattr(path, name, value),
};

/**
 * Flushes the filesystem holding `dir` (syncfs(2) via `sync -f`), so a layer
 * renamed into place afterwards has its content on disk. One call per layer
 * is far cheaper than an fsync per file.
 */
export function syncFilesystem(dir: string): void {
  try {
    const out = new Deno.Command("sync", { args: ["-f", dir], stdout: "null", stderr: "piped" })
      .outputSync();
    if (!out.success) {
      logger.warn("sync -f failed", { dir, stderr: new TextDecoder().decode(out.stderr).trim() });
    }
  } catch (e) {
    logger.warn("sync -f unavailable; layer content may not be flushed", { error: String(e) });
  }
}
