/**
 * Resolves a path inside a root directory as if the root were "/": symlinks (absolute or
 * relative) and ".." are followed but can never leave the root. Used for every mount
 * destination, so a rootfs symlink such as `/etc -> /host/etc` cannot aim a mount at the host.
 * @module
 */

import { PolisError } from "../core/mod.ts";
import { type FsView, realFs } from "./fsview.ts";

const MAX_LINKS = 255;

function components(p: string): string[] {
  return p.split("/").filter((c) => c !== "" && c !== ".");
}

/**
 * `root` + the in-root resolution of `unsafePath`. Components that do not exist yet are kept
 * as written (the caller creates them). `root` must be absolute and already resolved.
 */
export function secureJoin(root: string, unsafePath: string, fs: FsView = realFs): string {
  const base = root.replace(/\/+$/, "");
  const queue = components(unsafePath);
  const resolved: string[] = [];
  let links = 0;
  while (queue.length > 0) {
    const c = queue.shift()!;
    if (c === "..") {
      resolved.pop(); // ".." of the root is the root
      continue;
    }
    const candidate = `${base}/${[...resolved, c].join("/")}`;
    const st = fs.lstat(candidate);
    if (st?.isSymlink) {
      if (++links > MAX_LINKS) {
        throw PolisError.invalid(
          `cannot resolve ${JSON.stringify(unsafePath)} in ${root}: too many symlinks`,
        );
      }
      const target = fs.readLink(candidate);
      if (target.startsWith("/")) resolved.length = 0;
      queue.unshift(...components(target));
      continue;
    }
    resolved.push(c);
  }
  return resolved.length === 0 ? (base || "/") : `${base}/${resolved.join("/")}`;
}

/** The path as seen from inside the container once `root` is "/". */
export function insideRoot(root: string, hostPath: string): string {
  const base = root.replace(/\/+$/, "");
  if (hostPath === base) return "/";
  if (!hostPath.startsWith(base + "/")) {
    throw PolisError.internal(`${hostPath} is not inside ${root}`);
  }
  return hostPath.slice(base.length);
}
