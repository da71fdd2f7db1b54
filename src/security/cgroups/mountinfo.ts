/**
 * Pure parsing of `/proc/<pid>/mountinfo` and `/proc/<pid>/cgroup` for cgroup mounts.
 *
 * Hierarchies are found from the mount table, never from fixed paths: hosts mount v1
 * controllers separately (`cpu`, `cpuacct`) or together (`cpu,cpuacct`), and cgroup2 sits at
 * `/sys/fs/cgroup` (pure v2) or `/sys/fs/cgroup/unified` (hybrid).
 * @module
 */

/** v1 controller names the kernel knows; anything else in the super options is a mount flag. */
const V1_CONTROLLERS = new Set([
  "cpu",
  "cpuacct",
  "cpuset",
  "memory",
  "devices",
  "freezer",
  "blkio",
  "pids",
  "net_cls",
  "net_prio",
  "perf_event",
  "hugetlb",
  "rdma",
  "misc",
  "debug",
]);

export interface CgroupMount {
  version: 1 | 2;
  /** Where it is mounted, with mountinfo's octal escapes decoded. */
  mountPoint: string;
  /** The cgroup the mount shows as its top (mountinfo field 4), usually "/". */
  root: string;
  /** v1: controllers and `name=` tags from the super options, sorted; v2: empty. */
  controllers: string[];
}

/** Decodes mountinfo's `\040`-style escapes (space, tab, newline, backslash). */
export function unescapeMountField(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** Every cgroup and cgroup2 mount in a mountinfo text, in mount order. */
export function parseMountInfo(text: string): CgroupMount[] {
  const out: CgroupMount[] = [];
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    const sep = line.indexOf(" - ");
    if (sep < 0) continue;
    const pre = line.slice(0, sep).split(" ");
    const post = line.slice(sep + 3).split(" ");
    if (pre.length < 6 || post.length < 3) continue;
    const fstype = post[0];
    if (fstype !== "cgroup" && fstype !== "cgroup2") continue;
    const root = unescapeMountField(pre[3]);
    const mountPoint = unescapeMountField(pre[4]);
    if (fstype === "cgroup2") {
      out.push({ version: 2, mountPoint, root, controllers: [] });
      continue;
    }
    const controllers = post[2].split(",")
      .filter((o) => V1_CONTROLLERS.has(o) || o.startsWith("name="))
      .sort();
    out.push({ version: 1, mountPoint, root, controllers });
  }
  return out;
}

export interface ProcCgroupEntry {
  hierarchyId: number;
  /** Controllers of a v1 hierarchy (sorted, `name=` tags kept); empty for the v2 line. */
  controllers: string[];
  /** The process's cgroup in that hierarchy, relative to its cgroup namespace. */
  path: string;
}

/** Parses `/proc/<pid>/cgroup` ("id:controllers:path" per line). */
export function parseProcCgroup(text: string): ProcCgroupEntry[] {
  const out: ProcCgroupEntry[] = [];
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    const a = line.indexOf(":");
    const b = line.indexOf(":", a + 1);
    if (a < 0 || b < 0) continue;
    const id = Number(line.slice(0, a));
    const list = line.slice(a + 1, b);
    const controllers = list === "" ? [] : list.split(",").sort();
    out.push({ hierarchyId: id, controllers, path: line.slice(b + 1) });
  }
  return out;
}
