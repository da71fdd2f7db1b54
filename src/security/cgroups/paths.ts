/**
 * OCI `linux.cgroupsPath` handling: validation and resolution inside one hierarchy.
 * @module
 */

import { PolisError } from "../../core/mod.ts";
import type { Hierarchy } from "./layout.ts";

export interface CgroupsPath {
  /** "/a/b" is taken from each hierarchy's top; "a/b" from the caller's own cgroup. */
  absolute: boolean;
  segments: string[];
}

export function parseCgroupsPath(path: string): CgroupsPath {
  if (typeof path !== "string" || path.trim() === "") {
    throw PolisError.invalid("cgroupsPath is empty");
  }
  if (path.includes(":")) {
    throw PolisError.invalid(
      `cgroupsPath ${JSON.stringify(path)} looks like a systemd "slice:prefix:name" path; ` +
        "the systemd cgroup driver is not supported, use a plain path like /polis/<id>",
    );
  }
  if (/[\0\n]/.test(path)) {
    throw PolisError.invalid(`cgroupsPath ${JSON.stringify(path)} contains a NUL or newline`);
  }
  const absolute = path.startsWith("/");
  const segments = path.split("/").filter((s) => s !== "");
  for (const s of segments) {
    if (s === "." || s === "..") {
      throw PolisError.invalid(`cgroupsPath ${JSON.stringify(path)} must not contain "${s}"`);
    }
  }
  if (segments.length === 0) {
    throw PolisError.invalid(
      `cgroupsPath ${JSON.stringify(path)} names a hierarchy's root, which Polis never manages`,
    );
  }
  return { absolute, segments };
}

export function joinCgroup(base: string, segments: string[]): string {
  const parts = [...base.split("/").filter((s) => s !== ""), ...segments];
  return "/" + parts.join("/");
}

export interface Resolved {
  /** Path below the mount's top, e.g. "/process_api/abc/polis/c1". */
  below: string;
  /** The kernel's name for the cgroup (mount root joined), as /proc/<pid>/cgroup shows it. */
  cgroupPath: string;
  /** Absolute directory of the leaf. */
  dir: string;
  /** Directories from the base (exclusive) down to the leaf (inclusive). */
  chain: string[];
  /** Directory the chain starts under: the mount top or the caller's cgroup. */
  base: string;
}

function dirOf(h: Hierarchy, below: string): string {
  const mp = h.mountPoint.endsWith("/") ? h.mountPoint.slice(0, -1) : h.mountPoint;
  return below === "/" ? mp || "/" : mp + below;
}

/** Resolves a parsed cgroupsPath in one hierarchy. */
export function resolveIn(h: Hierarchy, p: CgroupsPath, original: string): Resolved {
  let baseBelow = "/";
  if (!p.absolute) {
    if (h.ownPath === null) {
      throw PolisError.precondition(
        `cannot resolve relative cgroupsPath ${JSON.stringify(original)}: this process's ` +
          `cgroup is not visible under ${h.mountPoint}`,
      );
    }
    baseBelow = h.ownPath;
  }
  const chain: string[] = [];
  for (let i = 1; i <= p.segments.length; i++) {
    chain.push(dirOf(h, joinCgroup(baseBelow, p.segments.slice(0, i))));
  }
  const below = joinCgroup(baseBelow, p.segments);
  return {
    below,
    cgroupPath: joinCgroup(h.mountRoot, below.split("/").filter((s) => s !== "")),
    dir: chain[chain.length - 1],
    chain,
    base: dirOf(h, baseBelow),
  };
}

/** True when `a` is `b` or one of its ancestors (paths below the same mount). */
export function isAncestorOrSelf(a: string, b: string): boolean {
  if (a === "/" || a === b) return true;
  return b.startsWith(a + "/");
}

/**
 * Refuses paths that would make Polis kill or remove the caller's own cgroup or one of its
 * ancestors (e.g. a mistaken absolute path), whatever the caller asked.
 */
export function assertNotOwnOrAncestor(h: Hierarchy, r: Resolved, original: string): void {
  if (h.ownPath !== null && isAncestorOrSelf(r.below, h.ownPath)) {
    throw PolisError.invalid(
      `cgroupsPath ${JSON.stringify(original)} resolves to ${r.dir}, which holds this ` +
        "process; Polis only manages cgroups below its own",
    );
  }
}
