/**
 * The cgroup v1 driver: one directory per mounted hierarchy (memory, cpu, cpuacct, pids,
 * devices, freezer, blkio, cpuset — separate or co-mounted), limits through v1 files, and a
 * freeze–kill–thaw loop for destroy so that a forking process cannot outrun the kill.
 * @module
 */

import { attachCleanupError, PolisError } from "../../core/mod.ts";
import { CgroupFiles, sleep } from "./cgfs.ts";
import {
  type Cgroup,
  type CgroupDriver,
  type CgroupStats,
  type JoinFiles,
  killEach,
  LeafCgroup,
  type Placement,
  removeEverywhere,
} from "./driver.ts";
import type { CgroupLayout, Hierarchy } from "./layout.ts";
import {
  type CgroupLimits,
  parseFlatKeyed,
  parseLimit,
  v1ControllersFor,
  v1LimitWrites,
  validateLimits,
} from "./limits.ts";
import { assertNotOwnOrAncestor, parseCgroupsPath, type Resolved, resolveIn } from "./paths.ts";

/** Controllers whose hierarchies a container is placed in. */
export const V1_PLACEMENT_CONTROLLERS = [
  "memory",
  "cpu",
  "cpuacct",
  "pids",
  "devices",
  "freezer",
  "blkio",
  "cpuset",
] as const;

function usedHierarchies(layout: CgroupLayout): Hierarchy[] {
  const wanted = new Set<string>(V1_PLACEMENT_CONTROLLERS);
  const hs = layout.v1.filter((h) => h.controllers.some((c) => wanted.has(c)));
  // The memory hierarchy first: it names the cgroup (Cgroup.path) and is charged first.
  return hs.sort((a, b) =>
    Number(b.controllers.includes("memory")) - Number(a.controllers.includes("memory"))
  );
}

class V1Cgroup extends LeafCgroup {
  override joinFiles(): JoinFiles {
    return { byThread: this.placements.map((p) => `${p.dir}/tasks`), byPid: [] };
  }

  oomKilled(): boolean {
    const p = this.placementWith("memory");
    if (!p) return false;
    const text = this.files.readIfExists(`${p.dir}/memory.oom_control`);
    // "oom_kill N" exists from Linux 4.13 on; older kernels cannot tell.
    return text !== null && (parseFlatKeyed(text).get("oom_kill") ?? 0) > 0;
  }

  stats(): CgroupStats {
    const mem = this.placementWith("memory");
    const acct = this.placementWith("cpuacct");
    const pids = this.placementWith("pids");
    const limit = (path: string) => {
      const t = this.files.readIfExists(path);
      return t === null ? null : parseLimit(t);
    };
    return {
      memory: {
        usage: mem ? this.files.readNumber(`${mem.dir}/memory.usage_in_bytes`) ?? 0 : 0,
        limit: mem ? limit(`${mem.dir}/memory.limit_in_bytes`) : null,
      },
      cpu: { usageNs: acct ? this.files.readNumber(`${acct.dir}/cpuacct.usage`) ?? 0 : 0 },
      pids: {
        current: pids ? this.files.readNumber(`${pids.dir}/pids.current`) ?? 0 : 0,
        limit: pids ? limit(`${pids.dir}/pids.max`) : null,
      },
    };
  }

  protected async killRound(pids: number[]): Promise<void> {
    const fr = this.placementWith("freezer");
    if (!fr || !this.files.exists(`${fr.dir}/freezer.state`)) {
      killEach(pids);
      return;
    }
    // Frozen tasks cannot fork, so the list read while frozen is complete; SIGKILL is
    // delivered on thaw. A freezer that cannot freeze (a task stuck in the kernel) only costs
    // the guarantee: the caller's loop kills again until the cgroup is empty.
    try {
      this.files.writeControl(fr.dir, "freezer.state", "FROZEN");
      for (let i = 0; i < 50; i++) {
        if (this.files.readIfExists(`${fr.dir}/freezer.state`)?.trim() === "FROZEN") break;
        await sleep(10);
      }
      killEach(this.pids());
    } catch {
      killEach(pids);
    } finally {
      try {
        this.files.writeControl(fr.dir, "freezer.state", "THAWED");
      } catch {
        // Gone already (the cgroup emptied and was removed) or never frozen.
      }
    }
  }
}

/** cpuset children start with empty cpus/mems (unless clone_children): copy the parent's. */
function copyCpuset(files: CgroupFiles, dir: string): void {
  const parent = dir.slice(0, dir.lastIndexOf("/"));
  for (const name of ["cpus", "mems"]) {
    const file = files.exists(`${dir}/cpuset.${name}`) ? `cpuset.${name}` : name; // "noprefix" mounts
    const own = files.readIfExists(`${dir}/${file}`);
    if (own === null || own.trim() !== "") continue;
    const from = files.readIfExists(`${parent}/${file}`)?.trim() ?? "";
    if (from === "") {
      throw PolisError.precondition(`cannot populate ${dir}/${file}: ${parent} has none`);
    }
    files.writeControl(dir, file, from);
  }
}

export function createV1Driver(
  layout: CgroupLayout,
  files: CgroupFiles = new CgroupFiles(),
): CgroupDriver {
  const hierarchies = usedHierarchies(layout);

  function resolveAll(cgroupsPath: string): { h: Hierarchy; r: Resolved }[] {
    const parsed = parseCgroupsPath(cgroupsPath);
    if (hierarchies.length === 0) {
      throw PolisError.precondition("no cgroup v1 controller hierarchy is mounted");
    }
    return hierarchies.map((h) => ({ h, r: resolveIn(h, parsed, cgroupsPath) }));
  }

  return {
    mode: "v1",

    create(cgroupsPath: string, limits: CgroupLimits): Cgroup {
      validateLimits(limits);
      const all = resolveAll(cgroupsPath);
      for (const c of v1ControllersFor(limits)) {
        if (!hierarchies.some((h) => h.controllers.includes(c))) {
          throw PolisError.precondition(
            `the limits need the cgroup v1 "${c}" controller, which is not mounted`,
          );
        }
      }
      for (const { r } of all) {
        if (files.exists(r.dir)) throw PolisError.conflict(`cgroup ${r.dir} already exists`);
      }
      const created: string[] = [];
      const placements: Placement[] = all.map(({ h, r }) => ({ hierarchy: h, dir: r.dir }));
      const cg = new V1Cgroup(files, all[0].r.cgroupPath, placements, created);
      try {
        for (const { h, r } of all) {
          const before = created.length;
          files.mkdirChain(r.chain, created);
          if (h.controllers.includes("cpuset")) {
            created.slice(before).forEach((d) => copyCpuset(files, d));
          }
        }
        // A fresh cgroup's memsw limit is unlimited, hence null.
        for (const w of v1LimitWrites(limits, null)) {
          const p = placements.find((p) => p.hierarchy.controllers.includes(w.controller))!;
          files.writeControl(p.dir, w.file, w.value, w.optional);
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
      const all = resolveAll(cgroupsPath);
      const placements: Placement[] = [];
      for (const { h, r } of all) {
        assertNotOwnOrAncestor(h, r, cgroupsPath);
        if (files.exists(r.dir)) placements.push({ hierarchy: h, dir: r.dir });
      }
      if (placements.length === 0) {
        throw PolisError.notFound(`cgroup ${JSON.stringify(cgroupsPath)} exists in no hierarchy`);
      }
      return new V1Cgroup(files, all[0].r.cgroupPath, placements);
    },

    removeParent(cgroupsPath: string): void {
      removeEverywhere(files, resolveAll(cgroupsPath), cgroupsPath);
    },
  };
}
