/**
 * The host's cgroup layout: which hierarchies are mounted where, and where the calling
 * process sits in each. Built from mountinfo and /proc/self/cgroup by pure code so it can be
 * tested with fixtures; `readCgroupLayout()` is the only part that reads /proc.
 * @module
 */

import { PolisError } from "../../core/mod.ts";
import {
  type CgroupMount,
  parseMountInfo,
  parseProcCgroup,
  type ProcCgroupEntry,
} from "./mountinfo.ts";

export type CgroupMode = "v1" | "v2" | "hybrid";

export interface Hierarchy {
  version: 1 | 2;
  /** v1: sorted controllers and `name=` tags of the hierarchy; v2: empty. */
  controllers: string[];
  mountPoint: string;
  /** mountinfo's root field: the cgroup shown at `mountPoint`. */
  mountRoot: string;
  /**
   * The caller's own cgroup below `mountPoint` ("/" = the mount's top), or null when the
   * caller's cgroup is not visible through this mount (relative paths then cannot resolve).
   */
  ownPath: string | null;
}

export interface CgroupLayout {
  /** One entry per mounted v1 hierarchy (bind mounts of the same one collapsed). */
  v1: Hierarchy[];
  /** The cgroup2 hierarchy, if mounted. */
  unified: Hierarchy | null;
}

/** `path` below `root`, as seen from a mount whose top is `root`; null when outside it. */
export function pathBelowRoot(path: string, root: string): string | null {
  if (root === "/" || root === "") return path;
  if (path === root) return "/";
  if (path.startsWith(root + "/")) return path.slice(root.length);
  return null;
}

function key(controllers: string[]): string {
  return controllers.join(",");
}

/** Prefers the conventional places so that a stray extra cgroup2 mount is not picked. */
function unifiedRank(m: CgroupMount): number {
  if (m.mountPoint === "/sys/fs/cgroup") return 0;
  if (m.mountPoint === "/sys/fs/cgroup/unified") return 1;
  return 2;
}

export function buildCgroupLayout(mounts: CgroupMount[], self: ProcCgroupEntry[]): CgroupLayout {
  const ownV1 = new Map<string, string>();
  let ownV2: string | null = null;
  for (const e of self) {
    if (e.hierarchyId === 0 && e.controllers.length === 0) ownV2 = e.path;
    else ownV1.set(key(e.controllers), e.path);
  }
  const v1 = new Map<string, Hierarchy>();
  let unified: { h: Hierarchy; rank: number } | null = null;
  for (const m of mounts) {
    if (m.version === 1) {
      if (m.controllers.length === 0) continue;
      const own = ownV1.get(key(m.controllers));
      const ownPath = own === undefined ? null : pathBelowRoot(own, m.root);
      const prev = v1.get(key(m.controllers));
      // The same hierarchy may be bind-mounted twice; keep the mount that shows our cgroup.
      if (prev && (prev.ownPath !== null || ownPath === null)) continue;
      v1.set(key(m.controllers), {
        version: 1,
        controllers: m.controllers,
        mountPoint: m.mountPoint,
        mountRoot: m.root,
        ownPath,
      });
    } else {
      const rank = unifiedRank(m);
      if (unified && unified.rank <= rank) continue;
      const ownPath = ownV2 === null ? null : pathBelowRoot(ownV2, m.root);
      unified = {
        rank,
        h: { version: 2, controllers: [], mountPoint: m.mountPoint, mountRoot: m.root, ownPath },
      };
    }
  }
  return { v1: [...v1.values()], unified: unified?.h ?? null };
}

/** True when a v1 hierarchy carries a real controller (not only a `name=` tag). */
export function hasRealController(h: Hierarchy): boolean {
  return h.controllers.some((c) => !c.startsWith("name="));
}

export function modeOf(layout: CgroupLayout): CgroupMode {
  const v1 = layout.v1.some(hasRealController);
  if (v1 && layout.unified) return "hybrid";
  if (v1) return "v1";
  if (layout.unified) return "v2";
  throw PolisError.precondition("no cgroup hierarchy is mounted (see /proc/self/mountinfo)");
}

/** Reads the layout of the calling process (the thread-group leader's mount namespace). */
export function readCgroupLayout(): CgroupLayout {
  const mounts = parseMountInfo(Deno.readTextFileSync("/proc/self/mountinfo"));
  const self = parseProcCgroup(Deno.readTextFileSync("/proc/self/cgroup"));
  return buildCgroupLayout(mounts, self);
}
