/**
 * The cgroup v2 driver: one directory in the unified hierarchy. Controllers are enabled only
 * in the subtree_control of directories this driver creates; a controller the first existing
 * ancestor does not delegate is a failed precondition, never a write to someone else's cgroup.
 * @module
 */

import { attachCleanupError, PolisError } from "../../core/mod.ts";
import { CgroupFiles } from "./cgfs.ts";
import {
  type Cgroup,
  type CgroupDriver,
  type CgroupStats,
  killEach,
  LeafCgroup,
  removeEverywhere,
} from "./driver.ts";
import type { Hierarchy } from "./layout.ts";
import {
  type CgroupLimits,
  parseFlatKeyed,
  parseLimit,
  v2ControllersFor,
  v2LimitWrites,
  validateLimits,
} from "./limits.ts";
import { assertNotOwnOrAncestor, parseCgroupsPath, type Resolved, resolveIn } from "./paths.ts";

/** Controllers enabled for the children of intermediate directories Polis creates. */
export const V2_DELEGATED_CONTROLLERS = ["cpu", "io", "memory", "pids"] as const;

function words(text: string | null): string[] {
  return (text ?? "").trim().split(/\s+/).filter((w) => w !== "");
}

class V2Cgroup extends LeafCgroup {
  private get dir(): string {
    return this.placements[0].dir;
  }

  oomKilled(): boolean {
    const text = this.files.readIfExists(`${this.dir}/memory.events`);
    return text !== null && (parseFlatKeyed(text).get("oom_kill") ?? 0) > 0;
  }

  stats(): CgroupStats {
    const d = this.dir;
    const limit = (f: string) => {
      const t = this.files.readIfExists(`${d}/${f}`);
      return t === null ? null : parseLimit(t);
    };
    const cpu = this.files.readIfExists(`${d}/cpu.stat`);
    return {
      memory: {
        usage: this.files.readNumber(`${d}/memory.current`) ?? 0,
        limit: limit("memory.max"),
      },
      cpu: { usageNs: (cpu === null ? 0 : parseFlatKeyed(cpu).get("usage_usec") ?? 0) * 1000 },
      pids: { current: this.files.readNumber(`${d}/pids.current`) ?? 0, limit: limit("pids.max") },
    };
  }

  protected killRound(pids: number[]): Promise<void> {
    // cgroup.kill (Linux 5.14) kills atomically, forks included.
    if (this.files.exists(`${this.dir}/cgroup.kill`)) {
      this.files.writeControl(this.dir, "cgroup.kill", "1");
    } else killEach(pids);
    return Promise.resolve();
  }
}

/**
 * The first directory of `r.chain` that exists is not ours to change; its children get only the
 * controllers in its cgroup.subtree_control. Returns that directory.
 */
function deepestExisting(files: CgroupFiles, r: Resolved): string {
  let parent = r.base;
  for (const dir of r.chain) {
    if (!files.exists(dir)) break;
    parent = dir;
  }
  return parent;
}

function checkDelegated(files: CgroupFiles, parent: string, needed: string[]): void {
  const enabled = words(files.readIfExists(`${parent}/cgroup.subtree_control`));
  for (const c of needed) {
    if (enabled.includes(c)) continue;
    const available = words(files.readIfExists(`${parent}/cgroup.controllers`));
    const why = available.includes(c)
      ? `it is in ${parent}/cgroup.controllers but not enabled in its cgroup.subtree_control`
      : `${parent}/cgroup.controllers has only "${available.join(" ")}"`;
    throw PolisError.precondition(
      `the limits need the cgroup v2 "${c}" controller, which parent cgroup ${parent} does not ` +
        `delegate: ${why} (Polis does not change cgroups it did not create)`,
    );
  }
}

export function createV2Driver(
  unified: Hierarchy | null,
  files: CgroupFiles = new CgroupFiles(),
): CgroupDriver {
  function resolve(cgroupsPath: string): Resolved {
    const parsed = parseCgroupsPath(cgroupsPath);
    if (unified === null) throw PolisError.precondition("no cgroup2 hierarchy is mounted");
    return resolveIn(unified, parsed, cgroupsPath);
  }

  return {
    mode: "v2",

    create(cgroupsPath: string, limits: CgroupLimits): Cgroup {
      validateLimits(limits);
      if (limits.devices && limits.devices.length > 0) {
        throw PolisError.precondition(
          "device rules need the cgroup v1 devices controller; cgroup v2 device control " +
            "(eBPF) is not supported",
        );
      }
      const r = resolve(cgroupsPath);
      if (files.exists(r.dir)) throw PolisError.conflict(`cgroup ${r.dir} already exists`);
      checkDelegated(files, deepestExisting(files, r), v2ControllersFor(limits));
      const created: string[] = [];
      const cg = new V2Cgroup(files, r.cgroupPath, [{ hierarchy: unified!, dir: r.dir }], created);
      try {
        // Walk down: each intermediate directory we make passes controllers to its child before
        // the child exists. The leaf holds processes, so its subtree_control stays empty
        // ("no internal processes").
        for (const dir of r.chain) {
          const before = created.length;
          files.mkdirChain([dir], created);
          if (dir === r.dir || created.length === before) continue;
          const available = words(files.readIfExists(`${dir}/cgroup.controllers`));
          for (const c of V2_DELEGATED_CONTROLLERS) {
            if (available.includes(c)) files.writeControl(dir, "cgroup.subtree_control", `+${c}`);
          }
        }
        for (const w of v2LimitWrites(limits)) {
          files.writeControl(r.dir, w.file, w.value, w.optional);
        }
      } catch (e) {
        try {
          cg.discardSync();
        } catch (ce) {
          attachCleanupError(e, ce);
        }
        throw e;
      }
      return cg;
    },

    open(cgroupsPath: string): Cgroup {
      const r = resolve(cgroupsPath);
      assertNotOwnOrAncestor(unified!, r, cgroupsPath);
      if (!files.exists(r.dir)) {
        throw PolisError.notFound(`cgroup ${JSON.stringify(cgroupsPath)} (${r.dir}) not found`);
      }
      return new V2Cgroup(files, r.cgroupPath, [{ hierarchy: unified!, dir: r.dir }]);
    },

    removeParent(cgroupsPath: string): void {
      removeEverywhere(files, [{ h: unified!, r: resolve(cgroupsPath) }], cgroupsPath);
    },
  };
}
