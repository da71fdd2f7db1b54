/**
 * Effects on cgroupfs: small synchronous helpers that turn kernel errors into PolisErrors
 * naming the file and value involved. Only the drivers call these.
 * @module
 */

import { PolisError } from "../../core/mod.ts";

export function errnoOf(e: unknown): string | undefined {
  if (e instanceof Deno.errors.NotFound) return "ENOENT";
  if (e instanceof Deno.errors.AlreadyExists) return "EEXIST";
  const code = (e as { code?: unknown })?.code;
  return typeof code === "string" ? code : undefined;
}

export function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

export function readIfExists(path: string): string | null {
  try {
    return Deno.readTextFileSync(path);
  } catch (e) {
    if (errnoOf(e) === "ENOENT") return null;
    throw PolisError.internal(`cannot read ${path}: ${(e as Error).message}`, e);
  }
}

/**
 * Writes one control file. A value the kernel refuses becomes invalid_argument naming both;
 * a missing file is skipped when `optional`, and otherwise is a failed precondition.
 */
export function writeControl(dir: string, file: string, value: string, optional = false): void {
  const path = `${dir}/${file}`;
  try {
    Deno.writeTextFileSync(path, value);
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
export function mkdirChain(chain: string[], created: string[]): void {
  for (const dir of chain) {
    try {
      Deno.mkdirSync(dir);
      created.push(dir);
    } catch (e) {
      if (errnoOf(e) === "EEXIST" && Deno.statSync(dir).isDirectory) continue;
      throw PolisError.internal(`cannot create cgroup ${dir}: ${(e as Error).message}`, e);
    }
  }
}

/** rmdir; false when it was already gone. Deno.removeSync on a directory is rmdir(2). */
export function rmdirSync(dir: string): boolean {
  try {
    Deno.removeSync(dir);
    return true;
  } catch (e) {
    if (errnoOf(e) === "ENOENT") return false;
    throw e;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * rmdir that waits out the short EBUSY window after the last task of a cgroup exits
 * (the kernel offlines the css asynchronously).
 */
export async function rmdirRetry(dir: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      rmdirSync(dir);
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
export function readPids(dir: string): number[] {
  const text = readIfExists(`${dir}/cgroup.procs`);
  if (text === null) return [];
  return text.split("\n").filter((l) => l.trim() !== "").map(Number);
}

/** Child cgroups of `dir` (a Polis leaf never has any). */
export function childDirs(dir: string): string[] {
  const out: string[] = [];
  try {
    for (const e of Deno.readDirSync(dir)) if (e.isDirectory) out.push(`${dir}/${e.name}`);
  } catch (e) {
    if (errnoOf(e) !== "ENOENT") throw e;
  }
  return out;
}

export function killPid(pid: number): void {
  try {
    Deno.kill(pid, "SIGKILL");
  } catch {
    // Already gone (ESRCH): that is the goal.
  }
}

/** Reads a control file as a number; null when missing or unparsable. */
export function readNumber(path: string): number | null {
  const t = readIfExists(path);
  if (t === null) return null;
  const n = Number(t.trim());
  return Number.isFinite(n) ? n : null;
}
