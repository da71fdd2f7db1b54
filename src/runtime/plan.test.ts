import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { PolisError } from "../core/mod.ts";
import { MS_BIND, MS_NOSUID, MS_PRIVATE, MS_RDONLY, MS_REC, MS_SHARED } from "../../ffi/mod.ts";
import { fakeFs } from "./fsview.ts";
import { buildPlan, cgroupsPathOf, limitsFromSpec } from "./plan.ts";
import { parseSpec, type Spec } from "./spec.ts";

const fs = fakeFs({
  "/b/rootfs": { type: "dir" },
  "/data": { type: "dir" },
  "/b/rel": { type: "dir" },
  "/run/netns/x": { type: "file" },
});

function spec(patch: Record<string, unknown> = {}, linux: Record<string, unknown> = {}): Spec {
  return parseSpec({
    ociVersion: "1.2.0",
    process: {
      user: { uid: 1000, gid: 1000 },
      args: ["app"],
      cwd: "/w/../work",
      capabilities: { bounding: ["CAP_KILL", "CAP_CHOWN"], effective: ["CAP_KILL"] },
      rlimits: [{ type: "RLIMIT_NOFILE", soft: 1024, hard: 18446744073709551615 }],
    },
    root: { path: "rootfs" },
    hostname: "h",
    mounts: [
      { destination: "/proc", type: "proc", source: "proc" },
      { destination: "/sys", type: "sysfs", source: "sysfs", options: ["ro", "nosuid"] },
      { destination: "/data", type: "bind", source: "/data", options: ["ro", "rprivate"] },
      { destination: "/rel", source: "rel", options: ["rbind"] },
    ],
    linux: {
      namespaces: [{ type: "pid" }, { type: "mount" }, { type: "uts" }, { type: "network" }],
      ...linux,
    },
    ...patch,
  });
}

const input = { id: "c1", bundle: "/b", stateDir: "/run/s/c1" };

function refused(s: Spec): PolisError {
  try {
    buildPlan(s, input, fs);
  } catch (e) {
    if (e instanceof PolisError) return e;
    throw e;
  }
  throw new Error("accepted");
}

Deno.test("the plan resolves paths, capabilities, rlimits and mounts", () => {
  const p = buildPlan(spec(), input, fs);
  assertEquals(p.rootfs, "/b/rootfs");
  assertEquals(p.process.cwd, "/work");
  assertEquals(p.process.caps?.bounding, [0, 5]);
  assertEquals(p.process.caps?.effective, [5]);
  assertEquals(p.process.caps?.ambient, []);
  assertEquals(p.process.rlimits, [
    { name: "RLIMIT_NOFILE", resource: 7, soft: "1024", hard: "18446744073709551615" },
  ]);
  assertEquals(p.execFifo, "/run/s/c1/exec.fifo");
  assertEquals(p.mounts.map((m) => m.kind), ["proc", "fs", "bind", "bind"]);
  assertEquals(p.mounts[2].flags, MS_BIND | MS_RDONLY);
  assertEquals(p.mounts[2].propagation, [MS_PRIVATE | MS_REC]);
  assertEquals(p.mounts[3].source, "/b/rel");
  assertEquals(p.newNetwork, true);
  assertEquals(p.newCgroupNs, false);
  assertEquals(p.rootPropagation, MS_PRIVATE | MS_REC);
});

Deno.test("sysfs without a new network namespace becomes a read-only bind of /sys", () => {
  const p = buildPlan(
    spec({}, { namespaces: [{ type: "pid" }, { type: "mount" }, { type: "uts" }] }),
    input,
    fs,
  );
  const sys = p.mounts[1];
  assertEquals(sys.kind, "bind");
  assertEquals(sys.source, "/sys");
  assertEquals(sys.flags, MS_BIND | MS_REC | MS_RDONLY | MS_NOSUID);
});

Deno.test("what the runtime cannot honour is refused as failed_precondition", () => {
  const cases: [Spec, string][] = [
    [
      spec({}, { namespaces: [{ type: "user" }, { type: "mount" }] }),
      "user namespaces are not supported",
    ],
    [spec({}, { uidMappings: [{ containerID: 0, hostID: 1000, size: 1 }] }), "user namespaces"],
    [spec({}, { seccomp: { defaultAction: "SCMP_ACT_ERRNO" } }), "seccomp"],
    [spec({}, { sysctl: { "vm.swappiness": "1" } }), '"vm.swappiness" is not namespaced'],
    [spec({}, { namespaces: [{ type: "pid" }] }), "a mount namespace is required"],
  ];
  for (const [s, text] of cases) {
    const e = refused(s);
    assertEquals(e.code, "failed_precondition", e.message);
    assert(e.message.includes(text), e.message);
  }
  const t = spec();
  t.process.terminal = true;
  assert(refused(t).message.includes("process.terminal"));
});

Deno.test("bad references are refused as invalid_argument before anything is made", () => {
  const noUts = refused(spec({}, { namespaces: [{ type: "mount" }] }));
  assertEquals(noUts.code, "invalid_argument");
  assert(noUts.message.includes("hostname"));
  const missing = refused(spec({ mounts: [{ destination: "/x", type: "bind", source: "/nope" }] }));
  assertEquals(missing.message, "mounts[0].source: /nope does not exist");
  const noRoot = refused(spec({ root: { path: "/nowhere" } }));
  assertEquals(noRoot.message, "root.path: /nowhere is not a directory");
  const nsPath = refused(
    spec({}, { namespaces: [{ type: "mount" }, { type: "network", path: "/run/netns/y" }] }),
  );
  assertEquals(nsPath.message, "linux.namespaces[1].path: /run/netns/y does not exist");
  const badId = (() => {
    try {
      buildPlan(spec(), { ...input, id: "../x" }, fs);
    } catch (e) {
      return e as PolisError;
    }
  })();
  assertEquals(badId?.code, "invalid_argument");
});

Deno.test("shared root propagation is applied after pivot_root", () => {
  const p = buildPlan(spec({}, { rootfsPropagation: "rshared" }), input, fs);
  assertEquals(p.rootPropagation, MS_PRIVATE | MS_REC);
  assertEquals(p.rootPropagationAfter, MS_SHARED | MS_REC);
});

Deno.test("resources map to cgroup limits and the default cgroups path is polis/<id>", () => {
  const s = spec({}, {
    resources: {
      memory: { limit: 16777216, swap: 33554432 },
      cpu: { shares: 512, quota: 50000, period: 100000 },
      pids: { limit: 64 },
      devices: [{ allow: false, access: "rwm" }, { allow: true, type: "c", major: 1, minor: 3 }],
    },
  });
  assertEquals(limitsFromSpec(s), {
    memoryBytes: 16777216,
    memorySwapBytes: 33554432,
    cpuShares: 512,
    cpuQuotaUs: 50000,
    cpuPeriodUs: 100000,
    pidsLimit: 64,
    devices: [
      { allow: false, type: "a", major: undefined, minor: undefined, access: "rwm" },
      { allow: true, type: "c", major: 1, minor: 3, access: "rwm" },
    ],
  });
  assertEquals(cgroupsPathOf(s, "c1"), "polis/c1");
  assertEquals(cgroupsPathOf(spec({}, { cgroupsPath: "/x/y" }), "c1"), "/x/y");
});
