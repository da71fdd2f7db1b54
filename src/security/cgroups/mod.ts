/**
 * Cgroup drivers for v1, v2 and hybrid hosts. The runtime creates one cgroup per container,
 * has the container's first process write "0" into each of `procsFiles()` right before
 * execve, and destroys the cgroup on delete.
 *
 * ```ts
 * const cg = createCgroup("polis/abc123", { memoryBytes: 64 << 20, pidsLimit: 100 });
 * // ... container process writes "0" into cg.procsFiles() ...
 * await cg.destroy();
 * ```
 * @module
 */

import type { Cgroup, CgroupDriver } from "./driver.ts";
import { createHybridDriver } from "./hybrid.ts";
import { type CgroupLayout, type CgroupMode, modeOf, readCgroupLayout } from "./layout.ts";
import type { CgroupLimits } from "./limits.ts";
import { createV1Driver } from "./v1.ts";
import { createV2Driver } from "./v2.ts";

export type { Cgroup, CgroupDriver, CgroupStats, JoinFiles } from "./driver.ts";
export type { CgroupLayout, CgroupMode, Hierarchy } from "./layout.ts";
export { buildCgroupLayout, readCgroupLayout } from "./layout.ts";
export type { CgroupLimits, DeviceRule } from "./limits.ts";
export { DEFAULT_DEVICE_RULES, sharesToWeight } from "./limits.ts";
export { parseMountInfo, parseProcCgroup } from "./mountinfo.ts";
export { createV1Driver } from "./v1.ts";
export { createV2Driver } from "./v2.ts";
export { createHybridDriver } from "./hybrid.ts";

/** v1: only v1 controllers mounted; v2: only cgroup2; hybrid: v1 controllers plus cgroup2. */
export function detectCgroupMode(): CgroupMode {
  return modeOf(readCgroupLayout());
}

/** The driver for a layout (default: this process's). */
export function driverFor(layout: CgroupLayout = readCgroupLayout()): CgroupDriver {
  switch (modeOf(layout)) {
    case "v1":
      return createV1Driver(layout);
    case "v2":
      return createV2Driver(layout.unified);
    case "hybrid":
      return createHybridDriver(createV1Driver(layout), createV2Driver(layout.unified));
  }
}

/**
 * Creates the cgroup for `cgroupsPath` (OCI linux.cgroupsPath: "/a/b" from each hierarchy's
 * root, "a/b" below this process's own cgroup) in every hierarchy and applies `limits`. The
 * leaf must not exist yet. On failure everything this call made is removed before the error
 * is thrown. Systemd-style "slice:prefix:name" paths are invalid_argument.
 *
 * `destroy()` removes the leaf only; intermediate directories (e.g. "polis") are shared by
 * containers and are removed with `removeCgroupParent`.
 */
export function createCgroup(cgroupsPath: string, limits: CgroupLimits): Cgroup {
  return driverFor().create(cgroupsPath, limits);
}

/** An existing cgroup (after a daemon restart, or for delete); not_found if absent everywhere. */
export function openCgroup(cgroupsPath: string): Cgroup {
  return driverFor().open(cgroupsPath);
}

/** rmdir of the given empty directory in every hierarchy; ENOENT ignored, busy is an error. */
export function removeCgroupParent(cgroupsPath: string): void {
  driverFor().removeParent(cgroupsPath);
}
