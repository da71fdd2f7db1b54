import { deepStrictEqual } from "node:assert/strict";
import { parseMountInfo, parseProcCgroup, unescapeMountField } from "./mountinfo.ts";
import {
  HYBRID_MOUNTINFO,
  HYBRID_PROC_CGROUP,
  NESTED_MOUNTINFO,
  V1_COMOUNT_MOUNTINFO,
  V2_MOUNTINFO,
} from "./fixtures.ts";

Deno.test("parseMountInfo lists every cgroup mount with its controllers, ignoring others", () => {
  const cases: { name: string; text: string; want: [string, 1 | 2, string][] }[] = [
    {
      name: "hybrid with separate cpu and cpuacct",
      text: HYBRID_MOUNTINFO,
      want: [
        ["/sys/fs/cgroup/cpu", 1, "cpu"],
        ["/sys/fs/cgroup/cpuacct", 1, "cpuacct"],
        ["/sys/fs/cgroup/cpuset", 1, "cpuset"],
        ["/sys/fs/cgroup/memory", 1, "memory"],
        ["/sys/fs/cgroup/devices", 1, "devices"],
        ["/sys/fs/cgroup/freezer", 1, "freezer"],
        ["/sys/fs/cgroup/blkio", 1, "blkio"],
        ["/sys/fs/cgroup/pids", 1, "pids"],
        ["/sys/fs/cgroup/systemd", 1, "name=systemd"],
        ["/sys/fs/cgroup/unified", 2, ""],
      ],
    },
    {
      name: "v1 with co-mounted controllers and mount flags among the super options",
      text: V1_COMOUNT_MOUNTINFO,
      want: [
        ["/sys/fs/cgroup/systemd", 1, "name=systemd"],
        ["/sys/fs/cgroup/cpu,cpuacct", 1, "cpu,cpuacct"],
        ["/sys/fs/cgroup/net_cls,net_prio", 1, "net_cls,net_prio"],
        ["/sys/fs/cgroup/memory", 1, "memory"],
        ["/sys/fs/cgroup/pids", 1, "pids"],
        ["/sys/fs/cgroup/cpuset", 1, "cpuset"],
      ],
    },
    { name: "pure v2", text: V2_MOUNTINFO, want: [["/sys/fs/cgroup", 2, ""]] },
    {
      name: "escaped mount point and a non-root mount",
      text: NESTED_MOUNTINFO,
      want: [["/sys/fs/cgroup/memory", 1, "memory"], ["/sys/fs/cgroup/my dir", 2, ""]],
    },
    { name: "empty text", text: "", want: [] },
  ];
  for (const c of cases) {
    const got = parseMountInfo(c.text).map((
      m,
    ) => [m.mountPoint, m.version, m.controllers.join(",")]);
    deepStrictEqual(got, c.want, c.name);
  }
  deepStrictEqual(parseMountInfo(NESTED_MOUNTINFO)[0].root, "/docker/abc");
});

Deno.test("unescapeMountField decodes octal escapes only", () => {
  const cases: [string, string][] = [
    ["/a\\040b", "/a b"],
    ["/tab\\011x", "/tab\tx"],
    ["/back\\134slash", "/back\\slash"],
    ["/plain", "/plain"],
  ];
  for (const [input, want] of cases) deepStrictEqual(unescapeMountField(input), want, input);
});

Deno.test("parseProcCgroup keeps hierarchy id, sorted controllers and paths with colons", () => {
  deepStrictEqual(parseProcCgroup(HYBRID_PROC_CGROUP).slice(5, 7), [
    { hierarchyId: 4, controllers: ["memory"], path: "/process_api/5c9a" },
    { hierarchyId: 3, controllers: ["cpuset"], path: "/" },
  ]);
  const cases: [string, { hierarchyId: number; controllers: string[]; path: string }[]][] = [
    ["0::/", [{ hierarchyId: 0, controllers: [], path: "/" }]],
    ["2:cpuacct,cpu:/a", [{ hierarchyId: 2, controllers: ["cpu", "cpuacct"], path: "/a" }]],
    ["1:name=systemd:/x:y", [{ hierarchyId: 1, controllers: ["name=systemd"], path: "/x:y" }]],
    ["garbage\n\n", []],
  ];
  for (const [input, want] of cases) deepStrictEqual(parseProcCgroup(input), want, input);
});
