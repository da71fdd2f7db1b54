/**
 * Unpacks one image layer (a tar, optionally gzip-compressed) into a
 * directory, safely: no entry may write outside it. Absolute names and `..`
 * are refused, a parent that is a symlink refuses the layer (symlinks from
 * earlier entries are never followed), hard links must point inside the
 * layer, device nodes are made only when privileged. Modes (with setuid),
 * owners, mtimes, symlinks and hard links are kept.
 *
 * Whiteouts are stored in one of two formats:
 * - "overlay": what overlayfs reads in a lower dir: `.wh.x` becomes a 0:0
 *   character device `x`, `.wh..wh..opq` the xattr trusted.overlay.opaque=y.
 * - "plain": the marker files are kept as empty files, for the copy fallback
 *   (rootfs.ts) to apply by deletion.
 *
 * `unpackLayerAtomically` unpacks into a temp dir and renames it into place
 * only after the content matched its diff id, so a crash or a refusal never
 * leaves a half layer under the final name.
 * @module
 */

import { lchownSync, lutimesSync } from "node:fs";
import { PolisError } from "../core/errors.ts";
import { fsyncDirSync, removeIfExistsSync } from "../core/fs.ts";
import { logger } from "../core/log.ts";
import { type FsOps, OVERLAY_OPAQUE_XATTR, S_IFBLK, S_IFCHR, S_IFIFO } from "./fsops.ts";
import { openLayer } from "./layerread.ts";
import { decompressed, type TarHeader } from "./tar.ts";

export type WhiteoutFormat = "overlay" | "plain";

export const WHITEOUT_PREFIX = ".wh.";
export const WHITEOUT_META_PREFIX = ".wh..wh.";
export const OPAQUE_MARKER = ".wh..wh..opq";

export interface UnpackOptions {
  format: WhiteoutFormat;
  ops: FsOps;
  /** Root may chown and make device nodes; otherwise owners are left and devices skipped. */
  privileged: boolean;
  /** Names the layer in errors, e.g. "layer sha256:…". */
  label: string;
  /** What the tar is, in "escapes the …" errors (default "layer"). */
  noun?: string;
  /** When given, the uncompressed content must hash to this (the config's diff id). */
  expectedDiffId?: string;
  /** Flushes the filesystem holding a dir (syncfs) before the final rename. */
  syncFs?: (dir: string) => void;
}

export interface UnpackResult {
  diffId: string;
  /** Bytes of regular-file content in the layer. */
  size: number;
  /**
   * Overlay format: dirs (relative, "" for the root) marked opaque by xattr, so
   * code without getxattr (the copy fallback) can still honour them.
   */
  opaqueDirs: string[];
}

const encoder = new TextEncoder();

/** Unpacks a layer stream into `dest`, an existing empty directory. */
export async function unpackLayer(
  input: ReadableStream<Uint8Array>,
  dest: string,
  opts: UnpackOptions,
): Promise<UnpackResult> {
  const writer = new LayerWriter(dest, opts);
  const tar = await openLayer(input, opts.label, (s) => decompressed(s, opts.label));
  for await (const entry of tar.entries()) {
    await writer.entry(entry.header, entry.body);
  }
  writer.finish();
  const diffId = tar.digest();
  if (opts.expectedDiffId !== undefined && diffId !== opts.expectedDiffId) {
    throw PolisError.invalid(
      `${opts.label}: uncompressed content is ${diffId}, but the image config says ${opts.expectedDiffId}`,
    );
  }
  return { diffId, size: writer.size, opaqueDirs: [...writer.opaqueDirs] };
}

/**
 * Unpacks into a fresh temp dir under `tmpParent` (same filesystem as
 * `finalDir`), then renames it to `finalDir`. On any failure the temp dir is
 * removed and nothing appears under `finalDir`.
 */
export async function unpackLayerAtomically(
  input: ReadableStream<Uint8Array>,
  finalDir: string,
  tmpParent: string,
  opts: UnpackOptions,
): Promise<UnpackResult> {
  const tmp = Deno.makeTempDirSync({ dir: tmpParent, prefix: "unpack-" });
  try {
    const result = await unpackLayer(input, tmp, opts);
    opts.syncFs?.(tmp);
    Deno.renameSync(tmp, finalDir);
    fsyncDirSync(finalDir.slice(0, finalDir.lastIndexOf("/")));
    return result;
  } catch (e) {
    try {
      removeIfExistsSync(tmp, true);
    } catch (cleanupErr) {
      if (e instanceof PolisError) e.cleanupErrors.push(cleanupErr);
    }
    throw e;
  }
}

/** Splits an entry name into clean components; throws when it would leave the layer. */
export function cleanEntryPath(name: string, label: string, entry = name, noun = "layer"): string {
  if (name.includes("\0")) {
    throw PolisError.invalid(`${label}: entry ${JSON.stringify(entry)} has a NUL in its name`);
  }
  const escapes = () =>
    PolisError.invalid(`${label}: entry ${JSON.stringify(entry)} escapes the ${noun}`);
  if (name.startsWith("/")) throw escapes();
  const parts = name.split("/").filter((c) => c !== "" && c !== ".");
  if (parts.includes("..")) throw escapes();
  return parts.join("/");
}

class LayerWriter {
  size = 0;
  readonly opaqueDirs = new Set<string>();
  /** Directory mtimes to set last, by relative path (a later entry for a dir wins). */
  private readonly dirTimes = new Map<string, Date>();
  /** Overlay whiteout devices made by this layer, by relative path. */
  private readonly whiteouts = new Set<string>();
  /** Relative dirs already checked to be real directories. */
  private readonly knownDirs = new Set<string>([""]);
  private rootMeta: TarHeader | undefined;

  private readonly noun: string;

  constructor(private readonly dest: string, private readonly opts: UnpackOptions) {
    this.noun = opts.noun ?? "layer";
  }

  private abs(rel: string): string {
    return rel === "" ? this.dest : `${this.dest}/${rel}`;
  }

  private fail(entry: string, why: string): PolisError {
    return PolisError.invalid(`${this.opts.label}: entry ${JSON.stringify(entry)} ${why}`);
  }

  async entry(header: TarHeader, body: AsyncIterable<Uint8Array>): Promise<void> {
    const rel = cleanEntryPath(header.name, this.opts.label, header.name, this.noun);
    if (rel === "") {
      if (header.type === "directory") this.rootMeta = header;
      return;
    }
    const parts = rel.split("/");
    const base = parts[parts.length - 1];
    // AUFS bookkeeping (.wh..wh.plnk and the like) and anything below a marker is not content.
    if (parts.slice(0, -1).some((p) => p.startsWith(WHITEOUT_PREFIX))) return;
    const parent = parts.slice(0, -1).join("/");
    try {
      this.ensureDir(parent, header.name);
      if (base.startsWith(WHITEOUT_PREFIX)) return this.whiteout(parent, base, rel, header.name);
      const abs = this.abs(rel);
      // The typings list only content types; the parser can also yield metadata types or null.
      switch (header.type as string | null) {
        case "directory":
          this.makeDir(rel);
          this.meta(abs, header, "dir", rel);
          return;
        case "file":
        case "contiguous-file":
          this.clear(rel);
          await this.writeFile(abs, body);
          this.size += header.size ?? 0;
          this.meta(abs, header, "file");
          return;
        case "link":
          return this.hardlink(rel, header);
        case "symlink":
          this.clear(rel);
          Deno.symlinkSync(header.linkname ?? "", abs);
          this.meta(abs, header, "symlink");
          return;
        case "character-device":
        case "block-device":
          if (!this.opts.privileged) return; // as docker does without root
          this.clear(rel);
          this.opts.ops.mknod(
            abs,
            (header.type === "block-device" ? S_IFBLK : S_IFCHR) | (header.mode & 0o7777),
            header.devmajor ?? 0,
            header.devminor ?? 0,
          );
          this.meta(abs, header, "file");
          return;
        case "fifo":
          this.clear(rel);
          this.opts.ops.mknod(abs, S_IFIFO | (header.mode & 0o7777), 0, 0);
          this.meta(abs, header, "file");
          return;
        case "pax-header":
        case "pax-global-header":
        case "gnu-long-path":
        case "gnu-long-link-path":
          return; // metadata records; tar-stream folds them into the entries they describe
        default:
          // GNU sparse files and other exotic types: refusing beats a silently broken rootfs.
          throw this.fail(header.name, `has an unsupported tar entry type (${header.type})`);
      }
    } catch (e) {
      if (e instanceof PolisError) throw e;
      throw PolisError.invalid(
        `${this.opts.label}: entry ${JSON.stringify(header.name)}: ${
          e instanceof Error ? e.message : String(e)
        }`,
      );
    }
  }

  /** Applies dir mtimes last (children change them) and sets the layer root's mode. */
  finish(): void {
    // Deepest first, so setting a child's time does not disturb its parent's.
    const depth = (rel: string) => rel.split("/").length;
    for (const rel of [...this.dirTimes.keys()].sort((a, b) => depth(b) - depth(a))) {
      const mtime = this.dirTimes.get(rel)!;
      // A dir a later entry replaced (perhaps by a symlink) is skipped: the path would
      // now resolve through that entry.
      if (this.knownDirs.has(rel)) lutimesSync(this.abs(rel), mtime, mtime);
    }
    const root = this.rootMeta;
    if (root && this.opts.privileged) lchownSync(this.dest, root.uid ?? 0, root.gid ?? 0);
    Deno.chmodSync(this.dest, root ? root.mode & 0o7777 : 0o755);
  }

  /**
   * Makes sure every component of `rel` is a real directory inside the layer,
   * creating missing ones; a symlink anywhere on the way refuses the layer.
   */
  private ensureDir(rel: string, entry: string): void {
    if (this.knownDirs.has(rel)) return;
    const parts = rel.split("/");
    for (let i = 1; i <= parts.length; i++) {
      const sub = parts.slice(0, i).join("/");
      if (this.knownDirs.has(sub)) continue;
      const abs = this.abs(sub);
      let info: Deno.FileInfo | undefined;
      try {
        info = Deno.lstatSync(abs);
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      }
      if (!info) {
        Deno.mkdirSync(abs, { mode: 0o755 });
      } else if (info.isSymlink) {
        throw this.fail(entry, `goes through the symlink "${sub}": refusing the ${this.noun}`);
      } else if (!info.isDirectory) {
        if (!this.whiteouts.has(sub)) {
          throw this.fail(entry, `has "${sub}" as a parent, which is not a directory`);
        }
        // A dir recreated under a name this layer whited out hides all lower content.
        Deno.removeSync(abs);
        this.whiteouts.delete(sub);
        Deno.mkdirSync(abs, { mode: 0o755 });
        this.setOpaque(sub);
      }
      this.knownDirs.add(sub);
    }
  }

  /** Removes whatever sits at `rel` so a new non-directory entry can take its place. */
  private clear(rel: string): void {
    const abs = this.abs(rel);
    let info: Deno.FileInfo;
    try {
      info = Deno.lstatSync(abs);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return;
      throw e;
    }
    if (info.isDirectory) {
      Deno.removeSync(abs, { recursive: true });
      this.forgetDirsUnder(rel);
    } else {
      Deno.removeSync(abs);
      this.whiteouts.delete(rel);
    }
  }

  private forgetDirsUnder(rel: string): void {
    for (const d of this.knownDirs) {
      if (d === rel || d.startsWith(`${rel}/`)) this.knownDirs.delete(d);
    }
  }

  private makeDir(rel: string): void {
    const abs = this.abs(rel);
    let info: Deno.FileInfo | undefined;
    try {
      info = Deno.lstatSync(abs);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    if (info?.isDirectory) {
      this.knownDirs.add(rel);
      return;
    }
    if (info) Deno.removeSync(abs);
    Deno.mkdirSync(abs, { mode: 0o755 });
    if (this.whiteouts.delete(rel)) this.setOpaque(rel);
    this.knownDirs.add(rel);
  }

  private setOpaque(rel: string): void {
    if (this.opts.format === "overlay") {
      this.opts.ops.lsetxattr(this.abs(rel), OVERLAY_OPAQUE_XATTR, encoder.encode("y"));
      this.opaqueDirs.add(rel);
    }
  }

  private whiteout(parent: string, base: string, rel: string, entry: string): void {
    if (base === OPAQUE_MARKER) {
      if (this.opts.format === "overlay") this.setOpaque(parent);
      else this.writeMarker(rel);
      return;
    }
    if (base.startsWith(WHITEOUT_META_PREFIX)) return;
    const name = base.slice(WHITEOUT_PREFIX.length);
    if (name === "" || name === "." || name === "..") {
      throw this.fail(entry, "is a whiteout with no valid name");
    }
    if (this.opts.format === "plain") return this.writeMarker(rel);
    const target = parent === "" ? name : `${parent}/${name}`;
    const abs = this.abs(target);
    let info: Deno.FileInfo | undefined;
    try {
      info = Deno.lstatSync(abs);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    if (info?.isDirectory) {
      // The layer already made a dir by this name: it replaces the lower one entirely.
      this.setOpaque(target);
      return;
    }
    if (info) return; // an entry of this layer already hides the lower one
    this.opts.ops.mknod(abs, S_IFCHR, 0, 0);
    this.whiteouts.add(target);
  }

  private writeMarker(rel: string): void {
    this.clear(rel);
    Deno.writeFileSync(this.abs(rel), new Uint8Array(), { mode: 0o600, createNew: true });
  }

  private async writeFile(abs: string, body: AsyncIterable<Uint8Array>): Promise<void> {
    // createNew: never open through something that appeared at this name.
    const file = await Deno.open(abs, { write: true, createNew: true, mode: 0o600 });
    try {
      for await (const chunk of body) {
        let off = 0;
        while (off < chunk.byteLength) off += await file.write(chunk.subarray(off));
      }
    } finally {
      file.close();
    }
  }

  private hardlink(rel: string, header: TarHeader): void {
    const entry = header.name;
    const target = cleanEntryPath(header.linkname ?? "", this.opts.label, entry, this.noun);
    if (target === "") throw this.fail(entry, "is a hard link with no target");
    if (target === rel) return;
    const tparts = target.split("/");
    for (let i = 1; i < tparts.length; i++) {
      const sub = tparts.slice(0, i).join("/");
      let info: Deno.FileInfo | undefined;
      try {
        info = Deno.lstatSync(this.abs(sub));
      } catch {
        // reported below as missing
      }
      if (!info?.isDirectory) {
        throw this.fail(entry, `is a hard link to "${target}", which is not in the ${this.noun}`);
      }
    }
    let tinfo: Deno.FileInfo | undefined;
    try {
      tinfo = Deno.lstatSync(this.abs(target));
    } catch {
      // reported below
    }
    if (!tinfo) {
      throw this.fail(entry, `is a hard link to "${target}", which is not in the ${this.noun}`);
    }
    if (tinfo.isDirectory) throw this.fail(entry, `is a hard link to the directory "${target}"`);
    this.clear(rel);
    Deno.linkSync(this.abs(target), this.abs(rel));
  }

  private meta(abs: string, header: TarHeader, kind: "dir" | "file" | "symlink", rel = ""): void {
    if (this.opts.privileged) lchownSync(abs, header.uid ?? 0, header.gid ?? 0);
    // chmod after chown: chown clears setuid/setgid bits.
    if (kind !== "symlink") Deno.chmodSync(abs, header.mode & 0o7777);
    this.xattrs(abs, header);
    const mtime = header.mtime ?? new Date(0);
    if (kind === "dir") this.dirTimes.set(rel, mtime);
    else lutimesSync(abs, mtime, mtime);
  }

  /**
   * Applies PAX xattrs that are safe to take from an image: user.* and file
   * capabilities. trusted.* (overlay's own markers) is never taken from content.
   */
  private xattrs(abs: string, header: TarHeader): void {
    const pax = header.pax as Record<string, string> | null | undefined;
    if (!pax) return;
    for (const [key, value] of Object.entries(pax)) {
      if (!key.startsWith("SCHILY.xattr.")) continue;
      const name = key.slice("SCHILY.xattr.".length);
      if (!name.startsWith("user.") && name !== "security.capability") continue;
      // tar-stream decodes PAX values as UTF-8; a replacement char means bytes were lost.
      if (value.includes("\uFFFD")) {
        logger.warn("skipping an xattr that did not survive decoding", { path: abs, name });
        continue;
      }
      try {
        this.opts.ops.lsetxattr(abs, name, encoder.encode(value));
      } catch (e) {
        logger.warn("could not set xattr", { path: abs, name, error: String(e) });
      }
    }
  }
}
