/**
 * The driver seam: one small interface that the v1, v2 and hybrid drivers implement, and the
 * placement-based cgroup handle they share (procs files, pids, kill loop, leaf removal).
 * @module
 */

import { attachCleanupError, PolisError } from "../../core/mod.ts";
import { type CgroupFiles, killPid, sleep } from "./cgfs.ts";
import type { CgroupMode, Hierarchy } from "./layout.ts";
import { assertNotOwnOrAncestor, type Resolved } from "./paths.ts";
import type { CgroupLimits } from "./limits.ts";

export interface CgroupStats {
  memory: { usage: number; limit: number | null };
  cpu: { usageNs: number };
  pids: { current: number; limit: number | null };
}

export interface Cgroup {
  /** The cgroup path as the kernel names it in the primary hierarchy (memory, or unified). */
  readonly path: string;
  /** Absolute cgroup.procs paths, one per hierarchy the container is placed in. */
  procsFiles(): string[];
  /** How the container's first process joins (see JoinFiles). */
  joinFiles(): JoinFiles;
  /** Processes in the cgroup, across all its hierarchies. */
  pids(): number[];
  /** Whether the kernel's OOM killer killed a process of this cgroup. */
  oomKilled(): boolean;
  stats(): CgroupStats;
  /**
   * SIGKILLs what is left and removes the leaf directory in every hierarchy; idempotent.
   * Intermediate directories stay (see `removeCgroupParent`).
   */
  destroy(): Promise<void>;
}

export interface CgroupDriver {
  readonly mode: CgroupMode;
  create(cgroupsPath: string, limits: CgroupLimits): Cgroup;
  /** An existing cgroup; not_found when the leaf exists in none of the driver's hierarchies. */
  open(cgroupsPath: string): Cgroup;
  /** rmdir of an empty directory in every hierarchy; ENOENT ignored. */
  removeParent(cgroupsPath: string): void;
}

/**
 * How a container's first process joins its cgroup. Moving a whole multi-threaded process
 * (cgroup.procs) makes the kernel wait for an RCU grace period (8-13 ms measured here), and
 * the first process is a Deno init with a dozen threads that vanish at its execve anyway.
 */
export interface JoinFiles {
  /**
   * Files its exec'ing thread writes "0" into right before execve (as late as possible, so
   * the init is never charged to a small memory limit): a v1 hierarchy's `tasks` (moves that
   * one thread, 0.1-0.5 ms; after execve it is the whole process), cgroup2's `cgroup.procs`.
   */
  byThread: string[];
  /**
   * `cgroup.procs` files its creator may write its pid into as soon as it exists: placements
   * with no limits (hybrid's cgroup2 part), so joining early charges nothing and keeps the
   * slow whole-process move off the start.
   */
  byPid: string[];
}

/** The leaf directory of one container in one hierarchy. */
export interface Placement {
  hierarchy: Hierarchy;
  dir: string;
}

/** How long destroy() keeps killing before it gives up on a cgroup that will not empty. */
const KILL_TIMEOUT_MS = 5000;

/** Common behaviour of a container cgroup made of one leaf per hierarchy. */
export abstract class LeafCgroup implements Cgroup {
  readonly path: string;
  protected readonly placements: Placement[];
  /** Directories made by the create() call that returned this handle, in creation order. */
  readonly #created: string[];

  protected readonly files: CgroupFiles;

  constructor(files: CgroupFiles, path: string, placements: Placement[], created: string[] = []) {
    this.files = files;
    this.path = path;
    this.placements = placements;
    this.#created = created;
  }

  procsFiles(): string[] {
    return this.placements.map((p) => `${p.dir}/cgroup.procs`);
  }

  joinFiles(): JoinFiles {
    return { byThread: this.procsFiles(), byPid: [] };
  }

  pids(): number[] {
    const all = new Set<number>();
    for (const p of this.placements) for (const pid of this.files.readPids(p.dir)) all.add(pid);
    return [...all].sort((a, b) => a - b);
  }

  abstract oomKilled(): boolean;
  abstract stats(): CgroupStats;
  /** One round of killing everything in the cgroup. */
  protected abstract killRound(pids: number[]): Promise<void>;

  protected placementWith(controller: string): Placement | undefined {
    return this.placements.find((p) => p.hierarchy.controllers.includes(controller));
  }

  /** Undo of a create() that failed later: removes what that call made (no processes yet). */
  discardSync(): void {
    let first: unknown;
    for (const dir of [...this.#created].reverse()) {
      try {
        this.files.rmdir(dir);
      } catch (e) {
        first ??= e;
      }
    }
    if (first !== undefined) throw first;
  }

  async destroy(): Promise<void> {
    const present = this.placements.filter((p) => this.files.exists(p.dir));
    if (present.length === 0) return;
    for (const p of present) {
      const kids = this.files.childDirs(p.dir);
      if (kids.length > 0) {
        throw PolisError.precondition(
          `cgroup ${p.dir} has child cgroups (${kids[0]}); it is not a container leaf Polis made`,
        );
      }
    }
    const deadline = Date.now() + KILL_TIMEOUT_MS;
    for (;;) {
      const pids = this.pids();
      if (pids.length === 0) break;
      if (pids.includes(Deno.pid)) {
        throw PolisError.precondition(
          `cgroup ${this.path} holds this Polis process (pid ${Deno.pid}); refusing to kill it`,
        );
      }
      if (Date.now() > deadline) {
        throw new PolisError(
          "unavailable",
          `cgroup ${this.path} still has processes ${pids.join(",")} after SIGKILL`,
        );
      }
      await this.killRound(pids);
      await sleep(10);
    }
    let err: unknown;
    for (const p of present) {
      try {
        await this.files.rmdirRetry(p.dir);
      } catch (e) {
        if (err === undefined) err = e;
        else attachCleanupError(err, e);
      }
    }
    if (err !== undefined) throw err;
  }
}

/** SIGKILL each pid: the fallback when neither cgroup.kill nor a freezer helps. */
export function killEach(pids: number[]): void {
  for (const pid of pids) if (pid !== Deno.pid) killPid(pid);
}

/** rmdir in each hierarchy, trying all before throwing the first failure. */
export function removeEverywhere(
  files: CgroupFiles,
  all: { h: Hierarchy; r: Resolved }[],
  original: string,
): void {
  for (const { h, r } of all) assertNotOwnOrAncestor(h, r, original);
  let err: PolisError | undefined;
  for (const { r } of all) {
    try {
      files.rmdir(r.dir);
    } catch (e) {
      const busy = (e as { code?: string }).code === "EBUSY";
      const pe = busy
        ? PolisError.precondition(
          `cgroup ${r.dir} is not empty (it has processes or child cgroups)`,
        )
        : PolisError.internal(`cannot remove cgroup ${r.dir}: ${(e as Error).message}`, e);
      if (err === undefined) err = pe;
      else err.cleanupErrors.push(pe);
    }
  }
  if (err) throw err;
}
