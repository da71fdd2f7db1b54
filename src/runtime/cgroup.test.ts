import { deepStrictEqual as assertEquals } from "node:assert/strict";
import type { CgroupLayout, Hierarchy } from "../security/mod.ts";
import { cgroupMountPlans } from "./cgroup.ts";

const h = (mountPoint: string, controllers: string[], version: 1 | 2 = 1): Hierarchy => ({
  version,
  controllers,
  mountPoint,
  mountRoot: "/",
  ownPath: "/",
});

Deno.test("hybrid hosts show each v1 hierarchy by name and cgroup2 as unified", () => {
  const layout: CgroupLayout = {
    v1: [
      h("/sys/fs/cgroup/memory", ["memory"]),
      h("/sys/fs/cgroup/cpu,cpuacct", ["cpu", "cpuacct"]),
    ],
    unified: h("/sys/fs/cgroup/unified", [], 2),
  };
  assertEquals(
    cgroupMountPlans([
      "/sys/fs/cgroup/memory/a/c1/cgroup.procs",
      "/sys/fs/cgroup/cpu,cpuacct/c1/cgroup.procs",
      "/sys/fs/cgroup/unified/c1/cgroup.procs",
    ], layout),
    [
      { name: "memory", version: 1, options: "memory", hostDir: "/sys/fs/cgroup/memory/a/c1" },
      {
        name: "cpu,cpuacct",
        version: 1,
        options: "cpu,cpuacct",
        hostDir: "/sys/fs/cgroup/cpu,cpuacct/c1",
      },
      { name: "unified", version: 2, options: "", hostDir: "/sys/fs/cgroup/unified/c1" },
    ],
  );
});

Deno.test("a pure v2 host shows cgroup2 as the mount itself", () => {
  const layout: CgroupLayout = { v1: [], unified: h("/sys/fs/cgroup", [], 2) };
  assertEquals(cgroupMountPlans(["/sys/fs/cgroup/polis/c1/cgroup.procs"], layout), [
    { name: "", version: 2, options: "", hostDir: "/sys/fs/cgroup/polis/c1" },
  ]);
});
