/**
 * One conformance suite for every cgroup driver (containerd's snapshotter-testsuite habit):
 * `registerCgroupDriverTests("v1", () => createV1Driver(layout), { limits: true })` registers
 * Deno tests that run against the real kernel (root). Each test uses a unique
 * `polis-test-<random>` parent and removes everything it made in `finally`.
 *
 * When a driver's hierarchy cannot apply limits on the host (cgroup2 without delegated
 * controllers), pass `limits: false`: the suite then asserts the failed_precondition error that
 * names the controller and the parent, instead of skipping silently.
 * @module
 */

import { deepStrictEqual, ok } from "node:assert/strict";
import { PolisError } from "../../core/mod.ts";
import type { Cgroup, CgroupDriver } from "./driver.ts";
import type { CgroupLimits } from "./limits.ts";

export interface SuiteOptions {
  /** True when the driver can apply memory, cpu and pids limits on this host. */
  limits: boolean;
  /** A reason to register the tests as ignored (printed), e.g. "not root". */
  skip?: string;
}

const MiB = 1024 * 1024;
const LIMITS: CgroupLimits = {
  memoryBytes: 16 * MiB,
  pidsLimit: 10,
  cpuShares: 512,
  cpuQuotaUs: 50000,
  cpuPeriodUs: 100000,
};

function dirname(p: string): string {
  return p.slice(0, p.lastIndexOf("/"));
}

function exists(p: string): boolean {
  try {
    Deno.lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

export function leafDirs(cg: Cgroup): string[] {
  return cg.procsFiles().map(dirname);
}

/** Throws unless `fn` throws a PolisError with `code` whose message matches every pattern. */
export function assertPolisError(
  fn: () => unknown,
  code: string,
  ...patterns: (string | RegExp)[]
) {
  try {
    fn();
  } catch (e) {
    ok(e instanceof PolisError, `expected a PolisError, got ${e}`);
    deepStrictEqual(e.code, code, e.message);
    for (const p of patterns) {
      ok(
        typeof p === "string" ? e.message.includes(p) : p.test(e.message),
        `"${e.message}" lacks ${p}`,
      );
    }
    return e;
  }
  throw new Error(`expected a ${code} error, nothing was thrown`);
}

/** A unique parent, and cleanup of every leaf below it and of the parent itself. */
export class Scratch {
  readonly parent = `polis-test-${crypto.randomUUID().slice(0, 8)}`;
  constructor(readonly driver: CgroupDriver) {}

  path(leaf: string): string {
    return `${this.parent}/${leaf}`;
  }

  async cleanup(): Promise<void> {
    for (const leaf of ["c1", "c2", "c3", "probe"]) {
      try {
        await this.driver.open(this.path(leaf)).destroy();
      } catch (e) {
        if (!(e instanceof PolisError && e.code === "not_found")) throw e;
      }
    }
    this.driver.removeParent(this.parent);
  }
}

export async function waitFor(cond: () => boolean, what: string, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Starts `sleep 60` outside any Polis cgroup; the caller moves it. */
function spawnSleep(): Deno.ChildProcess {
  return new Deno.Command("sleep", { args: ["60"], stdout: "null", stderr: "null" }).spawn();
}

export function registerCgroupDriverTests(
  name: string,
  makeDriver: () => CgroupDriver,
  opts: SuiteOptions,
): void {
  if (opts.skip) console.log(`cgroup suite "${name}" skipped: ${opts.skip}`);
  const test = (title: string, fn: (s: Scratch) => Promise<void>) =>
    Deno.test({
      name: `[${name}] ${title}`,
      ignore: opts.skip !== undefined,
      fn: async () => {
        const s = new Scratch(makeDriver());
        try {
          await fn(s);
        } finally {
          await s.cleanup();
        }
      },
    });

  test("create makes the leaf in each hierarchy; destroy removes only the leaf", async (s) => {
    const cg = s.driver.create(s.path("c1"), {});
    const dirs = leafDirs(cg);
    ok(dirs.length >= 1);
    for (const d of dirs) {
      ok(exists(`${d}/cgroup.procs`), d);
      ok(d.endsWith(`/${s.parent}/c1`), d);
    }
    ok(cg.path.endsWith(`/${s.parent}/c1`), cg.path);
    deepStrictEqual(cg.pids(), []);
    deepStrictEqual(cg.oomKilled(), false);
    await cg.destroy();
    for (const d of dirs) {
      ok(!exists(d), `${d} still exists`);
      ok(exists(dirname(d)), `${dirname(d)} was removed by destroy`);
    }
    await cg.destroy(); // idempotent
    s.driver.removeParent(s.parent);
    for (const d of dirs) ok(!exists(dirname(d)), `${dirname(d)} survived removeParent`);
    s.driver.removeParent(s.parent); // ENOENT is fine
  });

  test("joinFiles name every placement once: by thread (v1 tasks) or early by pid", async (s) => {
    const cg = s.driver.create(s.path("c1"), {});
    const { byThread, byPid } = cg.joinFiles();
    const dirsOf = (files: string[]) => files.map(dirname).sort();
    deepStrictEqual(dirsOf([...byThread, ...byPid]), leafDirs(cg).sort());
    for (const f of byThread) {
      const v1 = exists(`${dirname(f)}/tasks`);
      deepStrictEqual(f.slice(f.lastIndexOf("/") + 1), v1 ? "tasks" : "cgroup.procs", f);
    }
    // Early joins are only for placements without limits: never the memory hierarchy.
    for (const f of byPid) ok(!exists(`${dirname(f)}/memory.limit_in_bytes`), f);
    for (const f of byPid) ok(!exists(`${dirname(f)}/memory.max`), f);
    await cg.destroy();
  });

  test("a process moved in shows in pids() and /proc/<pid>/cgroup; destroy kills it", async (s) => {
    const cg = s.driver.create(s.path("c1"), {});
    const child = spawnSleep();
    try {
      for (const f of cg.procsFiles()) Deno.writeTextFileSync(f, String(child.pid));
      deepStrictEqual(cg.pids(), [child.pid]);
      const own = Deno.readTextFileSync(`/proc/${child.pid}/cgroup`);
      ok(own.includes(`/${s.parent}/c1\n`), own);
      await cg.destroy();
    } finally {
      try {
        child.kill("SIGKILL");
      } catch { /* already dead: the expected case */ }
      const st = await child.status;
      deepStrictEqual(st.signal, "SIGKILL");
    }
    for (const d of leafDirs(cg)) ok(!exists(d), d);
  });

  test("processes that join by writing 0 and then fork are all killed by destroy", async (s) => {
    const cg = s.driver.create(s.path("c1"), {});
    const script = 'for f in "$@"; do echo 0 > "$f" || exit 3; done; ' +
      "sleep 60 & sleep 60 & sleep 60 & wait";
    const child = new Deno.Command("/bin/busybox", {
      args: ["sh", "-c", script, "sh", ...cg.procsFiles()],
      stdout: "null",
      stderr: "null",
    }).spawn();
    try {
      await waitFor(() => cg.pids().length >= 4, "the shell and its 3 sleeps to join");
      ok(cg.pids().includes(child.pid));
      await cg.destroy();
    } finally {
      try {
        child.kill("SIGKILL");
      } catch { /* already dead */ }
      deepStrictEqual((await child.status).signal, "SIGKILL");
    }
    for (const d of leafDirs(cg)) ok(!exists(d), d);
  });

  test("destroy empties a cgroup whose process is still forking", async (s) => {
    const cg = s.driver.create(s.path("c1"), {});
    const script = 'for f in "$@"; do echo 0 > "$f" || exit 3; done; ' +
      "for i in $(seq 300); do sleep 30 & done; wait";
    const child = new Deno.Command("/bin/busybox", {
      args: ["sh", "-c", script, "sh", ...cg.procsFiles()],
      stdout: "null",
      stderr: "null",
    }).spawn();
    try {
      await waitFor(() => cg.pids().length >= 20, "the shell to start forking");
      await cg.destroy();
    } finally {
      try {
        child.kill("SIGKILL");
      } catch { /* already dead */ }
      await child.status;
    }
    for (const d of leafDirs(cg)) ok(!exists(d), d);
  });

  test("open finds a cgroup by path after its creator is gone, and destroys it", async (s) => {
    const made = s.driver.create(s.path("c1"), {});
    const opened = s.driver.open(s.path("c1"));
    deepStrictEqual(opened.path, made.path);
    deepStrictEqual(opened.procsFiles(), made.procsFiles());
    await opened.destroy();
    for (const d of leafDirs(made)) ok(!exists(d), d);
    assertPolisError(() => s.driver.open(s.path("c1")), "not_found");
  });

  test("create of an existing leaf is a conflict and leaves it intact", async (s) => {
    const cg = s.driver.create(s.path("c1"), {});
    assertPolisError(() => s.driver.create(s.path("c1"), {}), "conflict", "already exists");
    for (const d of leafDirs(cg)) ok(exists(d), d);
    await cg.destroy();
  });

  test("bad paths are invalid_argument and create nothing", async (s) => {
    const bad = ["system.slice:polis:x", `${s.parent}/../x`, "/", ""];
    for (const p of bad) assertPolisError(() => s.driver.create(p, {}), "invalid_argument");
    assertPolisError(() => s.driver.create("a.slice:b:c", {}), "invalid_argument", "systemd");
    assertPolisError(() => s.driver.open(s.parent), "not_found");
    await Promise.resolve();
  });

  test("removeParent refuses a parent that still has a container and removes nothing", async (s) => {
    const cg = s.driver.create(s.path("c1"), {});
    assertPolisError(() => s.driver.removeParent(s.parent), "failed_precondition", "not empty");
    for (const d of leafDirs(cg)) ok(exists(d), d);
    await cg.destroy();
  });

  test("stats are readable and count a process that joined", async (s) => {
    const cg = s.driver.create(s.path("c1"), opts.limits ? { pidsLimit: 10 } : {});
    const child = spawnSleep();
    try {
      for (const f of cg.procsFiles()) Deno.writeTextFileSync(f, String(child.pid));
      const st = cg.stats();
      ok(st.cpu.usageNs >= 0 && st.memory.usage >= 0);
      if (opts.limits) {
        deepStrictEqual(st.pids, { current: 1, limit: 10 });
      } else {
        deepStrictEqual(st.pids.limit, null);
      }
      await cg.destroy();
    } finally {
      try {
        child.kill("SIGKILL");
      } catch { /* already dead */ }
      await child.status;
    }
  });

  if (opts.limits) {
    test("limits land in the version's control files", async (s) => {
      const cg = s.driver.create(s.path("c1"), LIMITS);
      const want: Record<string, string> = s.driver.mode === "v2"
        ? {
          "memory.max": "16777216",
          "pids.max": "10",
          "cpu.max": "50000 100000",
          "cpu.weight": "20",
        }
        : {
          "memory.limit_in_bytes": "16777216",
          "pids.max": "10",
          "cpu.cfs_quota_us": "50000",
          "cpu.cfs_period_us": "100000",
          "cpu.shares": "512",
        };
      for (const [file, value] of Object.entries(want)) {
        const found = leafDirs(cg).filter((d) => exists(`${d}/${file}`));
        ok(found.length >= 1, `${file} in no hierarchy`);
        for (const d of found) deepStrictEqual(Deno.readTextFileSync(`${d}/${file}`).trim(), value);
      }
      deepStrictEqual(cg.stats().memory.limit, 16 * MiB);
      await cg.destroy();
    });

    test("a value the kernel rejects is invalid_argument naming file and value", async (s) => {
      const file = s.driver.mode === "v2" ? "cpu.max" : "cpu.cfs_period_us";
      assertPolisError(
        () => s.driver.create(s.path("c1"), { memoryBytes: 16 * MiB, cpuPeriodUs: 100 }),
        "invalid_argument",
        file,
        "100",
      );
      // The parent was made by that call, so it is gone too.
      assertPolisError(() => s.driver.open(s.path("c1")), "not_found");
      assertPolisError(() => s.driver.open(s.parent), "not_found");
      await Promise.resolve();
    });
  } else {
    test("limits needing undelegated controllers fail clearly and leave nothing", async (s) => {
      const cases: [CgroupLimits, string][] = [
        [{ memoryBytes: 16 * MiB }, "memory"],
        [{ pidsLimit: 10 }, "pids"],
        [{ cpuQuotaUs: 50000 }, "cpu"],
      ];
      const probe = s.driver.create(s.path("probe"), {});
      const base = dirname(dirname(leafDirs(probe)[0]));
      await probe.destroy();
      s.driver.removeParent(s.parent);
      for (const [limits, controller] of cases) {
        assertPolisError(
          () => s.driver.create(s.path("c1"), limits),
          "failed_precondition",
          `"${controller}" controller`,
          `parent cgroup ${base} `,
        );
        assertPolisError(() => s.driver.open(s.parent), "not_found");
      }
    });
  }
}
