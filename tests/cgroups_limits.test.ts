/**
 * Root-only integration tests of the public cgroup API on this host's own mode (v1, v2 or
 * hybrid): limits in the control files of every hierarchy, a real process moved in, the pids
 * limit stopping forks, the OOM killer reported by oomKilled(), the v1 device whitelist, and
 * destroy/removeCgroupParent removing everything.
 * @module
 */

import { deepStrictEqual, ok } from "node:assert/strict";
import {
  type Cgroup,
  type CgroupLimits,
  createCgroup,
  DEFAULT_DEVICE_RULES,
  detectCgroupMode,
  openCgroup,
  readCgroupLayout,
  removeCgroupParent,
} from "../src/security/mod.ts";
import { PolisError } from "../src/core/mod.ts";

const MiB = 1024 * 1024;
const isRoot = Deno.uid() === 0;
const mode = detectCgroupMode();
const layout = readCgroupLayout();
if (!isRoot) console.log("cgroups_limits tests skipped: need root");

function exists(p: string): boolean {
  try {
    Deno.lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

const dirOf = (f: string) => f.slice(0, f.lastIndexOf("/"));

/** Mount points a container leaf is expected in on this host. */
function expectedMounts(): string[] {
  const used = ["memory", "cpu", "cpuacct", "pids", "devices", "freezer", "blkio", "cpuset"];
  const v1 = layout.v1.filter((h) => h.controllers.some((c) => used.includes(c)));
  const out = mode === "v2" ? [] : v1.map((h) => h.mountPoint);
  if (mode !== "v1" && layout.unified) out.push(layout.unified.mountPoint);
  return out.sort();
}

/** Runs a busybox shell script that first joins the cgroup by writing "0", as the runtime does. */
async function runInside(cg: Cgroup, script: string): Promise<Deno.CommandOutput> {
  const join = 'for f in "$@"; do echo 0 > "$f" || exit 3; done; ';
  return await new Deno.Command("/bin/busybox", {
    args: ["sh", "-c", join + script, "sh", ...cg.procsFiles()],
    stdout: "piped",
    stderr: "piped",
  }).output();
}

async function cleanup(parent: string): Promise<void> {
  for (const leaf of ["c1", "c2", "c3"]) {
    try {
      await openCgroup(`${parent}/${leaf}`).destroy();
    } catch (e) {
      if (!(e instanceof PolisError && e.code === "not_found")) throw e;
    }
  }
  removeCgroupParent(parent);
}

/** A unique parent; destroys every leaf and then the parent, even when the test failed. */
async function withParent(fn: (parent: string) => Promise<void>): Promise<void> {
  const parent = `polis-test-${crypto.randomUUID().slice(0, 8)}`;
  try {
    await fn(parent);
  } finally {
    await cleanup(parent);
  }
}

/** On a pure v2 host that delegates nothing here, limits cannot apply; say so and stop. */
function tryCreate(path: string, limits: CgroupLimits): Cgroup | null {
  try {
    return createCgroup(path, limits);
  } catch (e) {
    if (mode === "v2" && e instanceof PolisError && e.code === "failed_precondition") {
      console.log(`skipping limit checks: ${e.message}`);
      return null;
    }
    throw e;
  }
}

const LIMITS: CgroupLimits = {
  memoryBytes: 16 * MiB,
  memorySwapBytes: 16 * MiB,
  pidsLimit: 10,
  cpuQuotaUs: 50000,
  cpuPeriodUs: 100000,
};

Deno.test({
  name: "a container cgroup holds its limits in every hierarchy and counts a moved-in process",
  ignore: !isRoot,
  fn: () =>
    withParent(async (parent) => {
      const cg = tryCreate(`${parent}/c1`, LIMITS);
      if (!cg) return;
      // Placed in each hierarchy this host has, under this process's own cgroup there.
      const dirs = cg.procsFiles().map(dirOf);
      const mountOf = (d: string) =>
        expectedMounts().filter((m) => d.startsWith(m + "/")).sort((a, b) =>
          b.length - a.length
        )[0];
      deepStrictEqual(dirs.map(mountOf).sort(), expectedMounts());
      const primary = layout.v1.find((h) => h.controllers.includes("memory")) ?? layout.unified!;
      const own = primary.ownPath === "/" ? "" : primary.ownPath;
      deepStrictEqual(cg.path, `${own}/${parent}/c1`);

      const want: Record<string, string> = mode === "v2"
        ? { "memory.max": "16777216", "pids.max": "10", "cpu.max": "50000 100000" }
        : {
          "memory.limit_in_bytes": "16777216",
          "pids.max": "10",
          "cpu.cfs_quota_us": "50000",
          "cpu.cfs_period_us": "100000",
        };
      const swapFile = mode === "v2" ? "memory.swap.max" : "memory.memsw.limit_in_bytes";
      for (const [file, value] of Object.entries(want)) {
        const holders = dirs.filter((d) => exists(`${d}/${file}`));
        deepStrictEqual(holders.length, 1, `${file} in ${holders.length} hierarchies`);
        deepStrictEqual(Deno.readTextFileSync(`${holders[0]}/${file}`).trim(), value, file);
      }
      for (const d of dirs.filter((d) => exists(`${d}/${swapFile}`))) {
        deepStrictEqual(
          Deno.readTextFileSync(`${d}/${swapFile}`).trim(),
          mode === "v2" ? "0" : "16777216",
        );
      }

      const sleeper = new Deno.Command("sleep", { args: ["60"], stdout: "null", stderr: "null" })
        .spawn();
      try {
        for (const f of cg.procsFiles()) Deno.writeTextFileSync(f, String(sleeper.pid));
        deepStrictEqual(cg.pids(), [sleeper.pid]);
        const st = cg.stats();
        deepStrictEqual(st.pids, { current: 1, limit: 10 });
        deepStrictEqual(st.memory.limit, 16 * MiB);
        ok(st.memory.usage >= 0 && st.cpu.usageNs >= 0);
        deepStrictEqual(cg.oomKilled(), false);
        await cg.destroy();
      } finally {
        try {
          sleeper.kill("SIGKILL");
        } catch { /* destroy killed it */ }
        deepStrictEqual((await sleeper.status).signal, "SIGKILL");
      }
      for (const d of dirs) ok(!exists(d), `${d} survived destroy`);
      for (const d of dirs) ok(exists(dirOf(d)), `destroy removed the parent ${dirOf(d)}`);
      removeCgroupParent(parent);
      for (const d of dirs) ok(!exists(dirOf(d)), `${dirOf(d)} survived removeCgroupParent`);
    }),
});

Deno.test({
  name: "a process forking past pids.max fails to fork",
  ignore: !isRoot,
  fn: () =>
    withParent(async (parent) => {
      const cg = tryCreate(`${parent}/c1`, { pidsLimit: 10 });
      if (!cg) return;
      const out = await runInside(cg, "for i in $(seq 20); do sleep 1 & done; wait");
      const err = new TextDecoder().decode(out.stderr);
      ok(/can't fork|Resource temporarily unavailable/.test(err), `stderr: ${err}`);
      const events = cg.procsFiles().map((f) => `${dirOf(f)}/pids.events`).find(exists)!;
      ok(/^max [1-9]/m.test(Deno.readTextFileSync(events)), "pids.events counts no refusal");
      await cg.destroy();
    }),
});

Deno.test({
  name: "a process allocating past the memory limit is OOM-killed and oomKilled() says so",
  ignore: !isRoot,
  fn: () =>
    withParent(async (parent) => {
      const cg = tryCreate(`${parent}/c1`, { memoryBytes: 16 * MiB, memorySwapBytes: 16 * MiB });
      if (!cg) return;
      const calm = createCgroup(`${parent}/c2`, { memoryBytes: 16 * MiB });
      // awk doubles a string until the kernel steps in: a real allocation, unlike dd to a pipe.
      const out = await runInside(cg, `exec /bin/busybox awk 'BEGIN{s="a"; while(1) s=s s}'`);
      deepStrictEqual(out.signal, "SIGKILL");
      deepStrictEqual(cg.oomKilled(), true);
      deepStrictEqual(calm.oomKilled(), false);
      await cg.destroy();
      await calm.destroy();
    }),
});

Deno.test({
  name: "the default device rules let /dev/null through and refuse /dev/kmsg (v1)",
  ignore: !isRoot || mode === "v2",
  fn: () =>
    withParent(async (parent) => {
      const cg = createCgroup(`${parent}/c1`, { devices: [...DEFAULT_DEVICE_RULES] });
      const devices = cg.procsFiles().map(dirOf).find((d) => exists(`${d}/devices.list`))!;
      const list = Deno.readTextFileSync(`${devices}/devices.list`);
      ok(list.includes("c 1:3 rwm") && list.includes("c 136:* rwm") && !list.includes("a *:*"));
      const okOut = await runInside(cg, "echo hi > /dev/null && echo done");
      deepStrictEqual(new TextDecoder().decode(okOut.stdout).trim(), "done");
      const bad = await runInside(cg, "head -c 1 /dev/kmsg");
      ok(bad.code !== 0);
      ok(/Operation not permitted/.test(new TextDecoder().decode(bad.stderr)));
      await cg.destroy();
    }),
});
