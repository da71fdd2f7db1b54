/**
 * Resolves a path inside a directory tree as if that directory were `/`:
 * symlinks are followed, but absolute targets and `..` never climb above the
 * root. Used to read files from an image's rootfs or an extracted archive
 * without letting a hostile symlink point at the host.
 * @module
 */

import { PolisError } from "../core/errors.ts";

const MAX_SYMLINKS = 40;

/** Splits a path into its non-empty, non-"." components. */
export function pathComponents(path: string): string[] {
  return path.split("/").filter((c) => c !== "" && c !== ".");
}

/**
 * The host path of `path` under `root`, with every symlink resolved inside
 * `root`. Components that do not exist are appended as they are. The result
 * always starts with `root`.
 */
export function resolveInRoot(root: string, path: string): string {
  const base = root.replace(/\/+$/, "") || "/";
  const resolved: string[] = [];
  const pending = pathComponents(path).reverse();
  let links = 0;
  while (pending.length > 0) {
    const c = pending.pop()!;
    if (c === "..") {
      resolved.pop();
      continue;
    }
    const candidate = joinRoot(base, [...resolved, c]);
    let info: Deno.FileInfo | undefined;
    try {
      info = Deno.lstatSync(candidate);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory)) throw e;
    }
    if (info?.isSymlink) {
      if (++links > MAX_SYMLINKS) {
        throw PolisError.invalid(`too many levels of symbolic links resolving "${path}"`);
      }
      const target = Deno.readLinkSync(candidate);
      if (target.startsWith("/")) resolved.length = 0;
      pending.push(...pathComponents(target).reverse());
      continue;
    }
    resolved.push(c);
  }
  return joinRoot(base, resolved);
}

function joinRoot(root: string, parts: string[]): string {
  if (parts.length === 0) return root;
  return (root === "/" ? "" : root) + "/" + parts.join("/");
}

/** Reads a small text file inside `root` (symlinks kept inside); undefined if absent. */
export function readTextInRoot(root: string, path: string): string | undefined {
  const host = resolveInRoot(root, path);
  try {
    const info = Deno.lstatSync(host);
    if (!info.isFile) return undefined;
    return Deno.readTextFileSync(host);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) {
      return undefined;
    }
    throw e;
  }
}
