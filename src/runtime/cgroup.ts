/**
 * The runtime's use of the cgroup drivers (src/security): which limits and path a spec asks
 * for, and how each hierarchy the container is placed in should appear inside it.
 * @module
 */

import type { CgroupLayout } from "../security/mod.ts";
import type { CgroupMountPlan } from "./plan.ts";

/**
 * For each procs file of the container's cgroup, the hierarchy it belongs to and how to show
 * it below the container's cgroup mount (v1 hierarchies as subdirectories named like the
 * host's, cgroup2 as the mount itself on a pure v2 host or as "unified" on a hybrid one).
 */
export function cgroupMountPlans(
  procsFiles: readonly string[],
  layout: CgroupLayout,
): CgroupMountPlan[] {
  const out: CgroupMountPlan[] = [];
  const pureV2 = layout.v1.length === 0;
  for (const file of procsFiles) {
    const hostDir = file.slice(0, file.lastIndexOf("/"));
    const under = (mp: string) => hostDir === mp || hostDir.startsWith(mp + "/");
    if (layout.unified && under(layout.unified.mountPoint)) {
      out.push({ name: pureV2 ? "" : "unified", version: 2, options: "", hostDir });
      continue;
    }
    const h = layout.v1.find((h) => under(h.mountPoint));
    if (!h) continue;
    const name = h.mountPoint.slice(h.mountPoint.lastIndexOf("/") + 1);
    const named = h.controllers.every((c) => c.startsWith("name="));
    out.push({
      name,
      version: 1,
      options: named ? `none,${h.controllers.join(",")}` : h.controllers.join(","),
      hostDir,
    });
  }
  return out;
}
