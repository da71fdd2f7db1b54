/**
 * Effects on cgroupfs, behind one small seam (`CgroupFs`) so the drivers can also run against
 * a simulated kernel in unit tests. `CgroupFiles` turns kernel errors into PolisErrors naming
 * the file and value involved. Only the drivers use this module.
 * @module
 */

import { PolisError } from "../../core/mod.ts";

/** The file operations the drivers need; errors carry the errno as `code` (or NotFound). */
export interface CgroupFs {
  mkdir(path: string): void;
  /** rmdir(2). */
  rmdir(path: string): void;
  readFile(path: string): string;
  writeFile(path: string, data: string): void;
  /** "dir", "file", or null when absent. */
  kind(path: string): "dir" | "file" | null;
  /** Names of the sub-directories of `path`. */
  subdirs(path: string): string[];
}

/** The real filesystem through synchronous Deno calls. */
export const hostFs: CgroupFs = {
  mkdir: (p) => Deno.mkdirSync(p),
  // Deno.removeSync without `recursive` on a directory is rmdir(2).
  rmdir: (p) => Deno.removeSync(p),
  readFile: (p) => Deno.readTextFileSync(p),
  writeFile: (p, d) => Deno.writeTextFileSync(p, d),
  kind: (p) => {
    try {
      return Deno.lstatSync(p).isDirectory ? "dir" : "file";
    } catch {
      return null;
    }
  },
  subdirs: (p) => [...Deno.readDirSync(p)].filter((e) => e.isDirectory).map((e) => e.name),
};

export function errnoOf(e: unknown): string | undefined {
  if (e instanceof Deno.errors.NotFound) return "ENOENT";
  if (e instanceof Deno.errors.AlreadyExists) return "EEXIST";
  const code = (e as { code?: unknown })?.code;
  return typeof code === "string" ? code : undefined;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function killPid(pid: number): void {
  try {
    Deno.kill(pid, "SIGKILL");
  } catch {
    // Already gone (ESRCH): that is the goal.
  }
}

export class CgroupFiles {
  constructor(readonly fs: CgroupFs = hostFs) {}

  exists(path: string): boolean {
    return this.fs.kind(path) !== null;
  }

  readIfExists(path: string): string | null {
    try {
      return this.fs.readFile(path);
    } catch (e) {
      if (errnoOf(e) === "ENOENT") return null;
      throw PolisError.internal(`cannot read ${path}: ${(e as Error).message}`, e);
    }
  }

  /** A control file as a number; null when missing or unparsable. */
  readNumber(path: string): number | null {
    const t = this.readIfExists(path);
    if (t === null) return null;
    const n = Number(t.trim());
    return Number.isFinite(n) ? n : null;
  }

  /**
   * Writes one control file. A value the kernel refuses becomes invalid_argument naming both;
   * a missing file is skipped when `optional`, and otherwise is a failed precondition.
   */
  writeControl(dir: string, file: string, value: string, optional = false): void {
    const path = `${dir}/${file}`;
    try {
      this.fs.writeFile(path, value);
    } catch (e) {
      const code = errnoOf(e);
      if (code === "ENOENT") {
        if (optional) return;
        throw PolisError.precondition(`cgroup file ${path} does not exist (controller missing?)`);
      }
      if (code === "EINVAL" || code === "ERANGE" || code === "EOVERFLOW" || code === "EBUSY") {
        throw new PolisError(
          "invalid_argument",
          `the kernel rejected ${JSON.stringify(value)} for ${path} (${code})`,
          { cause: e },
        );
      }
      throw PolisError.internal(`cannot write ${JSON.stringify(value)} to ${path}: ${e}`, e);
    }
  }

  /** mkdir each missing directory of `chain` in order, appending the ones made to `created`. */
  mkdirChain(chain: string[], created: string[]): void {
    for (const dir of chain) {
      try {
        this.fs.mkdir(dir);
        created.push(dir);
      } catch (e) {
        if (errnoOf(e) === "EEXIST" && this.fs.kind(dir) === "dir") continue;
        throw PolisError.internal(`cannot create cgroup ${dir}: ${(e as Error).message}`, e);
      }
    }
  }

  /** rmdir; false when it was already gone. Other errors are thrown as they are. */
  rmdir(dir: string): boolean {
    try {
      this.fs.rmdir(dir);
      return true;
    } catch (e) {
      if (errnoOf(e) === "ENOENT") return false;
      throw e;
    }
  }

  /**
   * rmdir that waits out the short EBUSY window after the last task of a cgroup exits
   * (the kernel takes the cgroup offline asynchronously).
   */
  async rmdirRetry(dir: string, timeoutMs = 3000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        this.rmdir(dir);
        return;
      } catch (e) {
        if (errnoOf(e) !== "EBUSY" || Date.now() > deadline) {
          throw new PolisError(
            errnoOf(e) === "EBUSY" ? "unavailable" : "internal",
            `cannot remove cgroup ${dir}: ${(e as Error).message}`,
            { cause: e },
          );
        }
        await sleep(20);
      }
    }
  }

  /** Pids listed in `<dir>/cgroup.procs`; empty when the cgroup is gone. */
  readPids(dir: string): number[] {
    const text = this.readIfExists(`${dir}/cgroup.procs`);
    if (text === null) return [];
    return text.split("\n").filter((l) => l.trim() !== "").map(Number);
  }

  /** Child cgroups of `dir` (a Polis leaf never has any). */
  childDirs(dir: string): string[] {
    try {
      return this.fs.subdirs(dir).map((n) => `${dir}/${n}`);
    } catch (e) {
      if (errnoOf(e) === "ENOENT") return [];
      throw e;
    }
  }
}
