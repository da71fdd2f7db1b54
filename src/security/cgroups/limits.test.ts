import { deepStrictEqual, throws } from "node:assert/strict";
import {
  type CgroupLimits,
  DEFAULT_DEVICE_RULES,
  formatDeviceRule,
  parseFlatKeyed,
  parseLimit,
  sharesToWeight,
  v1ControllersFor,
  v1LimitWrites,
  v2ControllersFor,
  v2LimitWrites,
  validateLimits,
} from "./limits.ts";

const MiB = 1024 * 1024;

Deno.test("sharesToWeight maps the v1 share range onto the v2 weight range", () => {
  const cases: [number, number][] = [[2, 1], [1024, 39], [512, 20], [262144, 10000], [0, 100]];
  for (const [shares, weight] of cases) {
    deepStrictEqual(sharesToWeight(shares), weight, `${shares}`);
  }
});

Deno.test("validateLimits rejects values no kernel accepts, naming the field", () => {
  const bad: [CgroupLimits, RegExp][] = [
    [{ memoryBytes: -5 }, /memoryBytes=-5/],
    [{ memoryBytes: 1.5 }, /memoryBytes=1.5/],
    [{ cpuShares: 1 }, /cpuShares=1 /],
    [{ cpuShares: 300000 }, /at most 262144/],
    [{ cpuPeriodUs: -1 }, /cpuPeriodUs=-1/],
    [{ pidsLimit: -2 }, /pidsLimit=-2/],
    [{ memorySwapBytes: 10 * MiB }, /needs a memoryBytes/],
    [{ memoryBytes: 20 * MiB, memorySwapBytes: 10 * MiB }, /below memoryBytes/],
    [{ devices: [{ allow: true, type: "x" as "a", access: "r" }] }, /type/],
    [{ devices: [{ allow: true, type: "c", access: "rx" }] }, /access/],
  ];
  for (const [l, re] of bad) throws(() => validateLimits(l), re, JSON.stringify(l));
  for (
    const ok of [
      {},
      { memoryBytes: 0, pidsLimit: 0 },
      { memoryBytes: -1, memorySwapBytes: -1, cpuQuotaUs: -1, pidsLimit: -1 },
      {
        memoryBytes: 16 * MiB,
        memorySwapBytes: 16 * MiB,
        cpuShares: 2,
        devices: [...DEFAULT_DEVICE_RULES],
      },
    ]
  ) validateLimits(ok);
});

Deno.test("v1 writes memory before memsw when lowering and after when raising", () => {
  const l = { memoryBytes: 16 * MiB, memorySwapBytes: 32 * MiB };
  const files = (cur: number | null, lim: CgroupLimits = l) =>
    v1LimitWrites(lim, cur).map((w) => w.file);
  deepStrictEqual(files(null), ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes"]);
  deepStrictEqual(files(8 * MiB), ["memory.memsw.limit_in_bytes", "memory.limit_in_bytes"]);
  deepStrictEqual(files(64 * MiB), ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes"]);
  deepStrictEqual(files(null, { memoryBytes: 16 * MiB, memorySwapBytes: -1 }), [
    "memory.memsw.limit_in_bytes",
    "memory.limit_in_bytes",
  ]);
});

Deno.test("v1 and v2 writes carry the same limits in each version's files", () => {
  const l: CgroupLimits = {
    memoryBytes: 16 * MiB,
    memorySwapBytes: 48 * MiB,
    cpuShares: 512,
    cpuQuotaUs: 50000,
    cpuPeriodUs: 100000,
    pidsLimit: 10,
  };
  const pairs = (ws: { file: string; value: string }[]) => ws.map((w) => [w.file, w.value]);
  deepStrictEqual(pairs(v1LimitWrites(l, null)), [
    ["memory.limit_in_bytes", "16777216"],
    ["memory.memsw.limit_in_bytes", "50331648"],
    ["cpu.shares", "512"],
    ["cpu.cfs_period_us", "100000"],
    ["cpu.cfs_quota_us", "50000"],
    ["pids.max", "10"],
  ]);
  deepStrictEqual(pairs(v2LimitWrites(l)), [
    ["memory.max", "16777216"],
    ["memory.swap.max", "33554432"],
    ["cpu.weight", "20"],
    ["cpu.max", "50000 100000"],
    ["pids.max", "10"],
  ]);
  const unl: CgroupLimits = { memoryBytes: -1, memorySwapBytes: -1, cpuQuotaUs: -1, pidsLimit: -1 };
  deepStrictEqual(pairs(v2LimitWrites(unl)), [
    ["memory.max", "max"],
    ["memory.swap.max", "max"],
    ["cpu.max", "max"],
    ["pids.max", "max"],
  ]);
  deepStrictEqual(pairs(v2LimitWrites({ cpuPeriodUs: 20000 })), [["cpu.max", "max 20000"]]);
  deepStrictEqual(pairs(v1LimitWrites({ pidsLimit: -1 }, null)), [["pids.max", "max"]]);
  deepStrictEqual(v1LimitWrites({ memoryBytes: 0, cpuShares: 0 }, null), []);
});

Deno.test("needed controllers follow the limits that are set", () => {
  deepStrictEqual(v1ControllersFor({}), []);
  deepStrictEqual(v1ControllersFor({ memorySwapBytes: -1, cpuPeriodUs: 1000, pidsLimit: 0 }), [
    "memory",
    "cpu",
  ]);
  deepStrictEqual(v1ControllersFor({ pidsLimit: 5, devices: [...DEFAULT_DEVICE_RULES] }), [
    "pids",
    "devices",
  ]);
  deepStrictEqual(v2ControllersFor({ pidsLimit: 5, devices: [...DEFAULT_DEVICE_RULES] }), ["pids"]);
});

Deno.test("device rules format as the devices.allow/deny syntax with * wildcards", () => {
  deepStrictEqual(DEFAULT_DEVICE_RULES.map(formatDeviceRule), [
    "a",
    "c 1:3 rwm",
    "c 1:5 rwm",
    "c 1:7 rwm",
    "c 1:8 rwm",
    "c 1:9 rwm",
    "c 5:0 rwm",
    "c 5:1 rwm",
    "c 5:2 rwm",
    "c 136:* rwm",
    "c 10:200 rwm",
    "c *:* m",
    "b *:* m",
  ]);
  deepStrictEqual(
    v1LimitWrites({ devices: DEFAULT_DEVICE_RULES.slice(0, 2) }, null).map((w) => w.file),
    ["devices.deny", "devices.allow"],
  );
});

Deno.test("stat parsers read flat-keyed files and treat max or huge values as unlimited", () => {
  const m = parseFlatKeyed("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n");
  deepStrictEqual(m.get("oom_kill"), 3);
  deepStrictEqual(parseFlatKeyed("usage_usec 1500\nnr_periods 0").get("usage_usec"), 1500);
  const cases: [string, number | null][] = [
    ["max\n", null],
    ["9223372036854771712\n", null],
    ["16777216\n", 16777216],
    ["10", 10],
  ];
  for (const [t, want] of cases) deepStrictEqual(parseLimit(t), want, t);
});
