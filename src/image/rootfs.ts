/**
 * A container's root filesystem over its image's layers, described rather
 * than mounted (the runtime mounts): an overlay of the layer dirs with a
 * per-container upper and work dir, or, where overlayfs is unavailable, a
 * plain directory the layers are copied into bottom-up with whiteouts applied
 * by deletion.
 * @module
 */

import { lchownSync, lutimesSync } from "node:fs";
import { PolisError } from "../core/errors.ts";
import { type FsOps, S_IFBLK, S_IFCHR, S_IFIFO } from "./fsops.ts";
import {
  OPAQUE_MARKER,
  WHITEOUT_META_PREFIX,
  WHITEOUT_PREFIX,
  type WhiteoutFormat,
} from "./unpack.ts";

export type RootfsDescription =
  | {
    kind: "overlay";
    /** Top layer first, as overlayfs's lowerdir= lists them. */
    lowerdirs: string[];
    upperdir: string;
    workdir: string;
    target: string;
  }
  | { kind: "copy"; path: string };

/** The data string for `mount -t overlay overlay -o <data> <target>`. */
export function overlayMountData(d: Extract<RootfsDescription, { kind: "overlay" }>): string {
  return `lowerdir=${d.lowerdirs.join(":")},upperdir=${d.upperdir},workdir=${d.workdir}`;
}

/**
 * mount(2) copies the data string into one page; longer option strings fail
 * with EINVAL. The page size is 4096 on the machines Polis targets (x86_64,
 * and arm64 with 4 KiB pages); 64 KiB-page kernels are more generous.
 */
export const MOUNT_DATA_LIMIT = 4095;

export interface CopyLayer {
  dir: string;
  format: WhiteoutFormat;
  /** Opaque dirs of an overlay-format layer (its xattrs are not readable here). */
  opaqueDirs: string[];
}

/**
 * Copies `layers` (bottom first) into `target`, an existing empty dir,
 * applying each layer's whiteouts to what the layers below it left.
 */
export function copyLayers(
  layers: CopyLayer[],
  target: string,
  opts: { ops: FsOps; privileged: boolean },
): void {
  Deno.chmodSync(target, 0o755);
  for (const layer of layers) {
    applyDeletions(layer, layer.dir, target, "");
    const inodes = new Map<string, string>();
    const dirTimes: [string, Date, Date][] = [];
    copyTree(layer, layer.dir, target, inodes, dirTimes, opts);
    for (let i = dirTimes.length - 1; i >= 0; i--) {
      const [p, atime, mtime] = dirTimes[i];
      lutimesSync(p, atime, mtime);
    }
  }
}

function isOverlayWhiteout(info: Deno.FileInfo): boolean {
  return info.isCharDevice === true && (info.rdev ?? 0) === 0;
}

/** The name a whiteout entry removes, or undefined when the entry is content. */
function whiteoutName(layer: CopyLayer, name: string, info: Deno.FileInfo): string | undefined {
  if (layer.format === "overlay") return isOverlayWhiteout(info) ? name : undefined;
  if (!name.startsWith(WHITEOUT_PREFIX) || name.startsWith(WHITEOUT_META_PREFIX)) return undefined;
  return name.slice(WHITEOUT_PREFIX.length);
}

function isMarker(layer: CopyLayer, name: string, info: Deno.FileInfo): boolean {
  if (layer.format === "overlay") return isOverlayWhiteout(info);
  return name.startsWith(WHITEOUT_PREFIX);
}

/** True when `rel` under `root` is a real directory with no symlink on the way. */
function isRealDir(root: string, rel: string): boolean {
  let path = root;
  for (const c of rel.split("/").filter(Boolean)) {
    path += `/${c}`;
    try {
      if (!Deno.lstatSync(path).isDirectory) return false;
    } catch {
      return false;
    }
  }
  return true;
}

function join(rel: string, name: string): string {
  return rel === "" ? name : `${rel}/${name}`;
}

function removeAny(path: string): void {
  try {
    const info = Deno.lstatSync(path);
    Deno.removeSync(path, { recursive: info.isDirectory });
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
}

/** First pass over a layer: whiteouts and opaque dirs delete from the target. */
function applyDeletions(layer: CopyLayer, dir: string, target: string, rel: string): void {
  const entries = [...Deno.readDirSync(dir)];
  // A whiteout only acts on what lies below; if the target path is not a real dir
  // (a lower symlink or file), this layer's dir replaces it whole in the copy pass.
  const targetIsDir = isRealDir(target, rel);
  const opaque = layer.format === "overlay"
    ? layer.opaqueDirs.includes(rel)
    : entries.some((e) => e.name === OPAQUE_MARKER);
  if (opaque && targetIsDir && rel !== "") {
    for (const e of Deno.readDirSync(`${target}/${rel}`)) removeAny(`${target}/${rel}/${e.name}`);
  }
  for (const e of entries) {
    const info = Deno.lstatSync(`${dir}/${e.name}`);
    const gone = whiteoutName(layer, e.name, info);
    if (gone !== undefined) {
      if (targetIsDir && gone !== "" && gone !== "." && gone !== "..") {
        removeAny(`${target}/${join(rel, gone)}`);
      }
    } else if (info.isDirectory) {
      applyDeletions(layer, `${dir}/${e.name}`, target, join(rel, e.name));
    }
  }
}

/** Second pass: copies content entries, replacing what lies below. */
function copyTree(
  layer: CopyLayer,
  dir: string,
  targetDir: string,
  inodes: Map<string, string>,
  dirTimes: [string, Date, Date][],
  opts: { ops: FsOps; privileged: boolean },
): void {
  for (const e of Deno.readDirSync(dir)) {
    const src = `${dir}/${e.name}`;
    const dst = `${targetDir}/${e.name}`;
    const info = Deno.lstatSync(src);
    if (isMarker(layer, e.name, info)) continue;
    let existing: Deno.FileInfo | undefined;
    try {
      existing = Deno.lstatSync(dst);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
    if (info.isDirectory) {
      if (existing && !existing.isDirectory) removeAny(dst);
      if (!existing?.isDirectory) Deno.mkdirSync(dst);
      setMeta(dst, info, false, opts.privileged);
      dirTimes.push([dst, info.atime ?? new Date(0), info.mtime ?? new Date(0)]);
      copyTree(layer, src, dst, inodes, dirTimes, opts);
      continue;
    }
    if (existing) removeAny(dst);
    const key = `${info.dev}:${info.ino}`;
    const linked = info.nlink !== null && info.nlink > 1 ? inodes.get(key) : undefined;
    if (linked) {
      Deno.linkSync(linked, dst);
      continue;
    }
    if (info.isFile) {
      Deno.copyFileSync(src, dst);
    } else if (info.isSymlink) {
      Deno.symlinkSync(Deno.readLinkSync(src), dst);
    } else if (info.isCharDevice || info.isBlockDevice || info.isFifo) {
      if (!info.isFifo && !opts.privileged) continue;
      const type = info.isFifo ? S_IFIFO : info.isBlockDevice ? S_IFBLK : S_IFCHR;
      const rdev = info.rdev ?? 0;
      opts.ops.mknod(dst, type | ((info.mode ?? 0) & 0o7777), major(rdev), minor(rdev));
    } else {
      continue; // sockets are not content
    }
    setMeta(dst, info, info.isSymlink, opts.privileged);
    lutimesSync(dst, info.atime ?? new Date(0), info.mtime ?? new Date(0));
    if (info.nlink !== null && info.nlink > 1) inodes.set(key, dst);
  }
}

function setMeta(dst: string, info: Deno.FileInfo, symlink: boolean, privileged: boolean): void {
  if (privileged) lchownSync(dst, info.uid ?? 0, info.gid ?? 0);
  if (!symlink) Deno.chmodSync(dst, (info.mode ?? 0o644) & 0o7777);
}

function major(rdev: number): number {
  return ((rdev >>> 8) & 0xfff) | (Math.floor(rdev / 2 ** 32) & ~0xfff);
}

function minor(rdev: number): number {
  return (rdev & 0xff) | ((rdev >>> 12) & ~0xff);
}

/** Throws failed_precondition when the overlay's options would not fit one page. */
export function checkOverlayFits(d: Extract<RootfsDescription, { kind: "overlay" }>): void {
  const data = overlayMountData(d);
  if (data.length > MOUNT_DATA_LIMIT) {
    throw PolisError.precondition(
      `image has ${d.lowerdirs.length} layers: the overlay mount options (${data.length} bytes) ` +
        `exceed the ${MOUNT_DATA_LIMIT + 1}-byte page limit; use a shorter --root or fewer layers`,
    );
  }
}
