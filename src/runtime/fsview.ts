/**
 * The read-only filesystem questions path resolution asks, behind a small interface so the
 * pure resolvers (securejoin, lookpath) can be tested against a fake tree.
 * @module
 */

export interface FsEntry {
  isFile: boolean;
  isDirectory: boolean;
  isSymlink: boolean;
  isFifo: boolean;
  /** Permission bits (mode & 0o7777). */
  mode: number;
}

export interface FsView {
  /** Without following a final symlink; null if the path does not exist. */
  lstat(path: string): FsEntry | null;
  /** Following symlinks; null if the path (or a link target) does not exist. */
  stat(path: string): FsEntry | null;
  readLink(path: string): string;
}

function entry(i: Deno.FileInfo): FsEntry {
  return {
    isFile: i.isFile,
    isDirectory: i.isDirectory,
    isSymlink: i.isSymlink,
    isFifo: i.isFifo ?? false,
    mode: (i.mode ?? 0) & 0o7777,
  };
}

function orNull(f: () => Deno.FileInfo): FsEntry | null {
  try {
    return entry(f());
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) return null;
    throw e;
  }
}

/** The real filesystem, synchronously (the init must not use pool threads). */
export const realFs: FsView = {
  lstat: (p) => orNull(() => Deno.lstatSync(p)),
  stat: (p) => orNull(() => Deno.statSync(p)),
  readLink: (p) => Deno.readLinkSync(p),
};

/** A fake tree for tests: path → entry, symlinks carry their target. */
export function fakeFs(
  tree: Record<string, { type: "file" | "dir" | "link" | "fifo"; mode?: number; target?: string }>,
): FsView {
  const lstat = (p: string): FsEntry | null => {
    const e = tree[p];
    if (!e) return null;
    return {
      isFile: e.type === "file",
      isDirectory: e.type === "dir",
      isSymlink: e.type === "link",
      isFifo: e.type === "fifo",
      mode: e.mode ?? (e.type === "dir" ? 0o755 : 0o644),
    };
  };
  const readLink = (p: string) => {
    const e = tree[p];
    if (!e || e.type !== "link") throw new Deno.errors.InvalidData(`not a link: ${p}`);
    return e.target!;
  };
  const stat = (p: string, depth = 0): FsEntry | null => {
    const e = lstat(p);
    if (!e || !e.isSymlink) return e;
    if (depth > 40) return null;
    const t = readLink(p);
    const next = t.startsWith("/") ? t : `${p.slice(0, p.lastIndexOf("/"))}/${t}`;
    return stat(next, depth + 1);
  };
  return { lstat, stat: (p) => stat(p), readLink };
}
