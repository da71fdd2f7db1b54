import { deepStrictEqual, throws } from "node:assert/strict";
import { buildCgroupLayout, modeOf, pathBelowRoot } from "./layout.ts";
import { parseMountInfo, parseProcCgroup } from "./mountinfo.ts";
import {
  HYBRID_MOUNTINFO,
  HYBRID_PROC_CGROUP,
  NESTED_MOUNTINFO,
  NESTED_PROC_CGROUP,
  V1_COMOUNT_MOUNTINFO,
  V1_COMOUNT_PROC_CGROUP,
  V2_MOUNTINFO,
  V2_PROC_CGROUP,
} from "./fixtures.ts";

function layout(mi: string, pc: string) {
  return buildCgroupLayout(parseMountInfo(mi), parseProcCgroup(pc));
}

Deno.test("modeOf tells v1, v2 and hybrid hosts apart from their mounts", () => {
  const cases: [string, string, string, string][] = [
    ["hybrid", HYBRID_MOUNTINFO, HYBRID_PROC_CGROUP, "hybrid"],
    ["v1 co-mounted", V1_COMOUNT_MOUNTINFO, V1_COMOUNT_PROC_CGROUP, "v1"],
    ["pure v2", V2_MOUNTINFO, V2_PROC_CGROUP, "v2"],
    [
      "v2 plus a name=systemd v1 mount is still v2",
      V2_MOUNTINFO + "9 1 0:9 / /run/sd rw - cgroup cgroup rw,name=systemd\n",
      V2_PROC_CGROUP,
      "v2",
    ],
  ];
  for (const [name, mi, pc, want] of cases) deepStrictEqual(modeOf(layout(mi, pc)), want, name);
  throws(() => modeOf(layout("", "")), /no cgroup hierarchy/);
});

Deno.test("the layout finds the caller's own cgroup in each hierarchy by controller set", () => {
  const h = layout(HYBRID_MOUNTINFO, HYBRID_PROC_CGROUP);
  const own = Object.fromEntries(h.v1.map((x) => [x.controllers.join(","), x.ownPath]));
  deepStrictEqual(own.memory, "/process_api/5c9a");
  deepStrictEqual(own.cpu, "/");
  deepStrictEqual(own.cpuacct, "/");
  deepStrictEqual(h.unified?.mountPoint, "/sys/fs/cgroup/unified");
  deepStrictEqual(h.unified?.ownPath, "/");

  const co = layout(V1_COMOUNT_MOUNTINFO, V1_COMOUNT_PROC_CGROUP);
  const cpu = co.v1.find((x) => x.controllers.includes("cpu"));
  deepStrictEqual(cpu?.controllers, ["cpu", "cpuacct"]);
  deepStrictEqual(cpu?.mountPoint, "/sys/fs/cgroup/cpu,cpuacct");
  deepStrictEqual(cpu?.ownPath, "/system.slice/polis.service");
  deepStrictEqual(co.unified, null);

  const v2 = layout(V2_MOUNTINFO, V2_PROC_CGROUP);
  deepStrictEqual(v2.v1, []);
  deepStrictEqual(v2.unified?.ownPath, "/system.slice/polis.service");
});

Deno.test("a mount showing a sub-tree maps the own cgroup below its root, or to null outside", () => {
  const n = layout(NESTED_MOUNTINFO, NESTED_PROC_CGROUP);
  deepStrictEqual(n.v1[0].ownPath, "/inner");
  deepStrictEqual(n.unified?.ownPath, null);
});

Deno.test("pathBelowRoot strips a mount root prefix on segment boundaries only", () => {
  const cases: [string, string, string | null][] = [
    ["/a/b", "/", "/a/b"],
    ["/a/b", "/a", "/b"],
    ["/a", "/a", "/"],
    ["/ab", "/a", null],
    ["/x", "/a", null],
  ];
  for (const [p, root, want] of cases) {
    deepStrictEqual(pathBelowRoot(p, root), want, `${p} ${root}`);
  }
});

Deno.test("a bind mount of the same hierarchy does not replace the one showing our cgroup", () => {
  const mi = HYBRID_MOUNTINFO +
    "90 1 0:32 /process_api /mnt/mem rw - cgroup cgroup rw,memory\n";
  const mem = layout(mi, HYBRID_PROC_CGROUP).v1.filter((x) => x.controllers[0] === "memory");
  deepStrictEqual(mem.length, 1);
  deepStrictEqual(mem[0].mountPoint, "/sys/fs/cgroup/memory");
});
