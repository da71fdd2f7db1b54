/**
 * The hybrid driver: v1 hierarchies for limits and accounting, plus placement (no limits) in
 * the unified cgroup2 hierarchy so that cgroup2-aware tools see the container too.
 * @module
 */

import { attachCleanupError, PolisError } from "../../core/mod.ts";
import type { Cgroup, CgroupDriver, CgroupStats, JoinFiles } from "./driver.ts";
import type { CgroupLimits } from "./limits.ts";

/** Handles that can undo a fresh create synchronously (LeafCgroup does). */
interface Discardable {
  discardSync?: () => void;
}

class CompositeCgroup implements Cgroup {
  readonly path: string;
  readonly #primary: Cgroup;
  readonly #parts: Cgroup[];

  readonly #v1: Cgroup | null;
  readonly #v2: Cgroup | null;

  constructor(primary: Cgroup | null, secondary: Cgroup | null) {
    this.#v1 = primary;
    this.#v2 = secondary;
    this.#parts = [primary, secondary].filter((c): c is Cgroup => c !== null);
    this.#primary = this.#parts[0];
    this.path = this.#primary.path;
  }

  procsFiles(): string[] {
    return this.#parts.flatMap((p) => p.procsFiles());
  }

  joinFiles(): JoinFiles {
    // The cgroup2 part carries no limits here (create() gives it none): join it early.
    const [v1, v2] = [this.#v1?.joinFiles(), this.#v2?.procsFiles() ?? []];
    return { byThread: v1?.byThread ?? [], byPid: [...(v1?.byPid ?? []), ...v2] };
  }

  pids(): number[] {
    const all = new Set(this.#parts.flatMap((p) => p.pids()));
    return [...all].sort((a, b) => a - b);
  }

  oomKilled(): boolean {
    return this.#parts.some((p) => p.oomKilled());
  }

  stats(): CgroupStats {
    return this.#primary.stats();
  }

  async destroy(): Promise<void> {
    let err: unknown;
    for (const p of this.#parts) {
      try {
        await p.destroy();
      } catch (e) {
        if (err === undefined) err = e;
        else attachCleanupError(err, e);
      }
    }
    if (err !== undefined) throw err;
  }
}

export function createHybridDriver(v1: CgroupDriver, v2: CgroupDriver): CgroupDriver {
  return {
    mode: "hybrid",

    create(cgroupsPath: string, limits: CgroupLimits): Cgroup {
      const a = v1.create(cgroupsPath, limits);
      try {
        return new CompositeCgroup(a, v2.create(cgroupsPath, {}));
      } catch (e) {
        try {
          (a as Discardable).discardSync?.();
        } catch (ce) {
          attachCleanupError(e, ce);
        }
        throw e;
      }
    },

    open(cgroupsPath: string): Cgroup {
      const tryOpen = (d: CgroupDriver): Cgroup | null => {
        try {
          return d.open(cgroupsPath);
        } catch (e) {
          if (e instanceof PolisError && e.code === "not_found") return null;
          throw e;
        }
      };
      const a = tryOpen(v1);
      const b = tryOpen(v2);
      if (a === null && b === null) {
        throw PolisError.notFound(`cgroup ${JSON.stringify(cgroupsPath)} exists in no hierarchy`);
      }
      return new CompositeCgroup(a, b);
    },

    removeParent(cgroupsPath: string): void {
      let err: unknown;
      for (const d of [v1, v2]) {
        try {
          d.removeParent(cgroupsPath);
        } catch (e) {
          if (err === undefined) err = e;
          else attachCleanupError(err, e);
        }
      }
      if (err !== undefined) throw err;
    },
  };
}
