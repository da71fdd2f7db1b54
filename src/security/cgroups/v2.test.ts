import { deepStrictEqual, ok } from "node:assert/strict";
import { PolisError } from "../../core/mod.ts";
import { CgroupFiles } from "./cgfs.ts";
import { FakeCgroup2Fs } from "./fake_cgroupfs.ts";
import type { Hierarchy } from "./layout.ts";
import { createV2Driver } from "./v2.ts";

// A delegated service on a pure v2 host: polis.service owns /svc; new cgroups go below it.
const MP = "/fake/cgroup2";
const SVC = `${MP}/svc`;
const unified: Hierarchy = {
  version: 2,
  controllers: [],
  mountPoint: MP,
  mountRoot: "/",
  ownPath: "/svc",
};
const ALL = ["cpu", "io", "memory", "pids"];
const MiB = 1024 * 1024;

function host(svcSubtree: string[], svcControllers = ALL) {
  const fs = new FakeCgroup2Fs(MP, [...svcControllers, "hugetlb"]);
  fs.enableAtRoot(svcControllers);
  fs.seed(SVC, svcSubtree);
  fs.writes.length = 0;
  return { fs, driver: createV2Driver(unified, new CgroupFiles(fs)) };
}

function read(fs: FakeCgroup2Fs, p: string): string {
  return fs.readFile(p).trim();
}

function error(fn: () => unknown): PolisError {
  try {
    fn();
  } catch (e) {
    if (e instanceof PolisError) return e;
    throw e;
  }
  throw new Error("nothing thrown");
}

Deno.test("v2: dirs Polis creates pass controllers down; leaf and parent keep their subtree", () => {
  const { fs, driver } = host(ALL);
  const cg = driver.create("polis/c1", {
    memoryBytes: 16 * MiB,
    memorySwapBytes: 48 * MiB,
    cpuShares: 1024,
    cpuQuotaUs: 50000,
    cpuPeriodUs: 100000,
    pidsLimit: 10,
  });
  deepStrictEqual(cg.path, "/svc/polis/c1");
  deepStrictEqual(cg.procsFiles(), [`${SVC}/polis/c1/cgroup.procs`]);
  deepStrictEqual(read(fs, `${SVC}/polis/cgroup.subtree_control`), "cpu io memory pids");
  deepStrictEqual(read(fs, `${SVC}/polis/c1/cgroup.subtree_control`), "");
  const leaf = `${SVC}/polis/c1`;
  deepStrictEqual(read(fs, `${leaf}/memory.max`), "16777216");
  deepStrictEqual(read(fs, `${leaf}/memory.swap.max`), "33554432");
  deepStrictEqual(read(fs, `${leaf}/cpu.weight`), "39");
  deepStrictEqual(read(fs, `${leaf}/cpu.max`), "50000 100000");
  deepStrictEqual(read(fs, `${leaf}/pids.max`), "10");
  ok(fs.writes.every((w) => w.path.startsWith(`${SVC}/polis/`)), JSON.stringify(fs.writes));
  deepStrictEqual(cg.stats().memory.limit, 16 * MiB);
  deepStrictEqual(cg.stats().pids.limit, 10);
});

Deno.test("v2: a second container under an existing Polis parent writes only its own leaf", () => {
  const { fs, driver } = host(ALL);
  driver.create("polis/c1", {});
  fs.writes.length = 0;
  driver.create("polis/c2", { memoryBytes: 32 * MiB });
  deepStrictEqual(fs.writes, [{ path: `${SVC}/polis/c2/memory.max`, data: "33554432" }]);
});

Deno.test("v2: a controller the parent does not delegate fails first, naming both", () => {
  const cases: [string[], string[], string, RegExp][] = [
    [["cpu", "memory"], ALL, "pids", /in \/fake\/cgroup2\/svc\/cgroup.controllers but not enabled/],
    [["memory"], ["memory"], "cpu", /cgroup.controllers has only "memory"/],
  ];
  for (const [subtree, controllers, missing, why] of cases) {
    const { fs, driver } = host(subtree, controllers);
    const before = fs.dirs();
    const e = error(() =>
      driver.create("polis/c1", { memoryBytes: 16 * MiB, pidsLimit: 5, cpuShares: 512 })
    );
    deepStrictEqual(e.code, "failed_precondition");
    ok(e.message.includes(`"${missing}" controller`), e.message);
    ok(e.message.includes(`parent cgroup ${SVC} `), e.message);
    ok(why.test(e.message), e.message);
    deepStrictEqual(fs.dirs(), before);
    deepStrictEqual(fs.writes, []);
  }
});

Deno.test("v2: an existing intermediate cgroup that is not Polis's is never written", () => {
  const { fs, driver } = host(ALL);
  fs.seed(`${SVC}/shared`, ["memory"]);
  fs.writes.length = 0;
  driver.create("shared/c1", { memoryBytes: 16 * MiB });
  ok(fs.writes.every((w) => w.path.startsWith(`${SVC}/shared/c1/`)), JSON.stringify(fs.writes));
  const e = error(() => driver.create("shared/c2", { pidsLimit: 5 }));
  deepStrictEqual(e.code, "failed_precondition");
  ok(e.message.includes(`parent cgroup ${SVC}/shared `), e.message);
});

Deno.test("v2: a value the kernel rejects removes every dir that create made", () => {
  const { fs, driver } = host(ALL);
  const before = fs.dirs();
  const e = error(() => driver.create("polis/deep/c1", { cpuQuotaUs: 500 }));
  deepStrictEqual(e.code, "invalid_argument");
  ok(e.message.includes(`${SVC}/polis/deep/c1/cpu.max`) && e.message.includes('"500"'), e.message);
  deepStrictEqual(fs.dirs(), before);
});

Deno.test("v2: destroy uses cgroup.kill, removes the leaf only; removeParent the rest", async () => {
  const { fs, driver } = host(ALL);
  const cg = driver.create("polis/c1", { pidsLimit: 5 });
  // A pid above the kernel's pid_max: no real process can be hit even if the code regressed.
  fs.writeFile(cg.procsFiles()[0], "99999999");
  deepStrictEqual(driver.open("polis/c1").pids(), [99999999]);
  const e = error(() => driver.removeParent("polis"));
  deepStrictEqual(e.code, "failed_precondition");
  await driver.open("polis/c1").destroy();
  ok(fs.writes.some((w) => w.path === `${SVC}/polis/c1/cgroup.kill` && w.data === "1"));
  ok(!fs.dirs().includes(`${SVC}/polis/c1`));
  ok(fs.dirs().includes(`${SVC}/polis`));
  await cg.destroy();
  driver.removeParent("polis");
  ok(!fs.dirs().includes(`${SVC}/polis`));
  deepStrictEqual(error(() => driver.open("polis/c1")).code, "not_found");
});

Deno.test("v2: open and removeParent refuse the caller's own cgroup and its ancestors", () => {
  const { fs, driver } = host(ALL);
  for (const p of ["/svc", "/svc/", "../x"]) {
    deepStrictEqual(error(() => driver.open(p)).code, "invalid_argument", p);
  }
  deepStrictEqual(error(() => driver.removeParent("/svc")).code, "invalid_argument");
  ok(fs.dirs().includes(SVC));
});

Deno.test("v2: device rules are refused rather than silently ignored", () => {
  const { driver } = host(ALL);
  const e = error(() =>
    driver.create("c1", { devices: [{ allow: false, type: "a", access: "rwm" }] })
  );
  deepStrictEqual(e.code, "failed_precondition");
  ok(e.message.includes("devices"));
});
