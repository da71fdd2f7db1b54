/**
 * Rootfs mounts the engine asks for before `create` (the image component only describes
 * them): overlay, bind, and detach-unmount. These run in the caller's mount namespace.
 * @module
 */

import { PolisError } from "../core/mod.ts";
import {
  closeQuiet,
  isErrno,
  MNT_DETACH,
  mount,
  MS_BIND,
  MS_RDONLY,
  MS_REC,
  MS_REMOUNT,
  O_CLOEXEC,
  O_PATH,
  open,
  umount2,
} from "../../ffi/mod.ts";

export interface OverlayDescription {
  /** Lower layers, topmost first (overlayfs order). */
  lowerdirs: string[];
  /** Omit upperdir and workdir for a read-only overlay. */
  upperdir?: string;
  workdir?: string;
}

/** The kernel takes at most one page of mount data; keep a margin. */
const MAX_DATA = 4000;

function escape(p: string): string {
  return p.replace(/\\/g, "\\\\").replace(/:/g, "\\:").replace(/,/g, "\\,");
}

/** Builds the overlay option string; exported for tests. */
export function overlayData(d: OverlayDescription, lower: string[] = d.lowerdirs): string {
  const parts = [`lowerdir=${lower.map(escape).join(":")}`];
  if (d.upperdir) {
    parts.push(`upperdir=${escape(d.upperdir)}`, `workdir=${escape(d.workdir ?? "")}`);
  }
  return parts.join(",");
}

export function mountOverlay(d: OverlayDescription, target: string): void {
  if (d.lowerdirs.length === 0) throw PolisError.invalid("overlay needs at least one lower dir");
  if ((d.upperdir === undefined) !== (d.workdir === undefined)) {
    throw PolisError.invalid("overlay needs both upperdir and workdir, or neither");
  }
  let data = overlayData(d);
  const fds: number[] = [];
  try {
    if (data.length > MAX_DATA) {
      // Long layer lists do not fit in a page: name each layer by a short /proc/self/fd path.
      for (const l of d.lowerdirs) fds.push(open(l, O_PATH | O_CLOEXEC));
      data = overlayData(d, fds.map((fd) => `/proc/self/fd/${fd}`));
      if (data.length > MAX_DATA) {
        throw PolisError.invalid(`too many overlay layers (${d.lowerdirs.length})`);
      }
    }
    mount("overlay", target, "overlay", 0, data);
  } finally {
    for (const fd of fds) closeQuiet(fd);
  }
}

export function bindMount(
  source: string,
  target: string,
  opts: { readonly?: boolean; recursive?: boolean } = {},
): void {
  const rec = opts.recursive === false ? 0 : MS_REC;
  mount(source, target, null, MS_BIND | rec);
  if (opts.readonly) {
    try {
      mount(null, target, null, MS_REMOUNT | MS_BIND | MS_RDONLY);
    } catch (e) {
      umount2(target, MNT_DETACH);
      throw e;
    }
  }
}

/** Lazily unmounts `target`; a path that is not mounted is not an error. */
export function unmount(target: string): void {
  try {
    umount2(target, MNT_DETACH);
  } catch (e) {
    if (isErrno(e, "EINVAL") || isErrno(e, "ENOENT")) return;
    throw e;
  }
}
