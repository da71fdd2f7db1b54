/**
 * Runs the shared cgroup driver suite against the v1 driver, the v2 driver (on whatever
 * cgroup2 hierarchy this host mounts) and the hybrid driver, on the real kernel (root).
 * @module
 */

import {
  createHybridDriver,
  createV1Driver,
  createV2Driver,
  readCgroupLayout,
} from "../src/security/mod.ts";
import { registerCgroupDriverTests } from "../src/security/cgroups/testsuite.ts";

const layout = readCgroupLayout();
const root = Deno.uid() === 0 ? undefined : "needs root";

/** Whether the cgroup that new relative cgroups go under delegates all limit controllers. */
function v2Delegates(): boolean {
  const u = layout.unified;
  if (!u || u.ownPath === null) return false;
  const dir = u.mountPoint + (u.ownPath === "/" ? "" : u.ownPath);
  const on = Deno.readTextFileSync(`${dir}/cgroup.subtree_control`).split(/\s+/);
  return ["memory", "cpu", "pids"].every((c) => on.includes(c));
}

const hasV1 = layout.v1.some((h) => h.controllers.includes("memory"));

registerCgroupDriverTests("v1", () => createV1Driver(layout), {
  limits: true,
  skip: root ?? (hasV1 ? undefined : "no cgroup v1 memory hierarchy on this host"),
});

registerCgroupDriverTests("v2", () => createV2Driver(layout.unified), {
  limits: layout.unified !== null && v2Delegates(),
  skip: root ?? (layout.unified ? undefined : "no cgroup2 hierarchy on this host"),
});

registerCgroupDriverTests(
  "hybrid",
  () => createHybridDriver(createV1Driver(layout), createV2Driver(layout.unified)),
  {
    limits: true,
    skip: root ?? (hasV1 && layout.unified ? undefined : "host is not hybrid"),
  },
);
