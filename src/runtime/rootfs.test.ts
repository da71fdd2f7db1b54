import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import {
  ErrnoError,
  MNT_DETACH,
  MOUNT_ATTR_RDONLY,
  MS_BIND,
  MS_NODEV,
  MS_NOEXEC,
  MS_NOSUID,
  MS_PRIVATE,
  MS_RDONLY,
  MS_REC,
  MS_REMOUNT,
  MS_SLAVE,
  recordingSyscalls,
} from "../../ffi/mod.ts";
import { fakeFs } from "./fsview.ts";
import type { FileOps, InitEnv } from "./initenv.ts";
import type { InitPlan, PlannedMount } from "./plan.ts";
import { finishRootfs, mountDeferred, pivotInto, prepareRootfs, submountsOf } from "./rootfs.ts";

function fakeFiles(): FileOps & { log: string[] } {
  const log: string[] = [];
  return {
    log,
    mkdirAll: (p) => void log.push(`mkdir ${p}`),
    touch: (p) => void log.push(`touch ${p}`),
    writeFile: (p, t) => void log.push(`write ${p}=${t}`),
    readFile: () => "",
    chmod: (p, m) => void log.push(`chmod ${p} ${m.toString(8)}`),
    chown: (p, u, g) => void log.push(`chown ${p} ${u}:${g}`),
  };
}

function plan(mounts: PlannedMount[], patch: Partial<InitPlan> = {}): InitPlan {
  return {
    version: 1,
    id: "c",
    bundle: "/b",
    rootfs: "/b/rootfs",
    rootReadonly: false,
    rootPropagation: MS_PRIVATE | MS_REC,
    rootPropagationAfter: 0,
    namespaces: [],
    newNetwork: true,
    newCgroupNs: false,
    mounts,
    defaultDevices: false,
    devices: [],
    maskedPaths: [],
    readonlyPaths: [],
    sysctl: {},
    process: {
      args: ["sh"],
      env: [],
      cwd: "/",
      uid: 0,
      gid: 0,
      additionalGids: [],
      rlimits: [],
      noNewPrivileges: false,
    },
    execFifo: "/s/exec.fifo",
    cgroup: { joinFiles: [], mounts: [] },
    ...patch,
  };
}

const tree = fakeFs({
  "/b/rootfs": { type: "dir" },
  "/b/rootfs/etc": { type: "link", target: "/host-etc" },
  "/data": { type: "dir" },
  "/hostfile": { type: "file" },
});

Deno.test("the rootfs is made private and bound onto itself before the spec's mounts", () => {
  const sys = recordingSyscalls();
  const env: InitEnv = { sys, fs: tree, files: fakeFiles() };
  prepareRootfs(plan([]), env);
  assertEquals(sys.named("mount"), [
    [null, "/", null, MS_PRIVATE | MS_REC],
    ["/b/rootfs", "/b/rootfs", null, MS_BIND | MS_REC],
  ]);
});

Deno.test("a read-only bind is a bind then a bind remount with ro, then propagation", () => {
  const sys = recordingSyscalls();
  const files = fakeFiles();
  prepareRootfs(
    plan([{
      destination: "/etc/app",
      kind: "bind",
      type: "",
      source: "/data",
      flags: MS_BIND | MS_RDONLY | MS_NOSUID,
      data: "",
      propagation: [MS_SLAVE | MS_REC],
    }]),
    { sys, fs: tree, files },
  );
  // /etc is a symlink to /host-etc inside the rootfs: the mount lands there, not on the host.
  assertEquals(sys.named("mount").slice(2), [
    ["/data", "/b/rootfs/host-etc/app", null, MS_BIND],
    [null, "/b/rootfs/host-etc/app", null, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID],
    [null, "/b/rootfs/host-etc/app", null, MS_SLAVE | MS_REC],
  ]);
  assert(files.log.includes("mkdir /b/rootfs/host-etc/app"));
});

Deno.test("a file bind creates an empty file as its target", () => {
  const sys = recordingSyscalls();
  const files = fakeFiles();
  prepareRootfs(
    plan([{
      destination: "/f",
      kind: "bind",
      type: "",
      source: "/hostfile",
      flags: MS_BIND,
      data: "",
      propagation: [],
    }]),
    { sys, fs: tree, files },
  );
  assert(files.log.includes("touch /b/rootfs/f"), files.log.join("\n"));
  assertEquals(sys.named("mount").length, 3);
});

Deno.test("filesystem mounts pass type, flags and data; /dev gets nodes and links", () => {
  const sys = recordingSyscalls();
  const files = fakeFiles();
  prepareRootfs(
    plan([{
      destination: "/dev",
      kind: "fs",
      type: "tmpfs",
      source: "tmpfs",
      flags: MS_NOSUID,
      data: "mode=755",
      propagation: [],
    }], { defaultDevices: true }),
    { sys, fs: tree, files },
  );
  assertEquals(sys.named("mount")[2], ["tmpfs", "/b/rootfs/dev", "tmpfs", MS_NOSUID, "mode=755"]);
  const nodes = sys.named("mknod").map((a) => `${a[0]} ${a[2]}:${a[3]}`);
  assertEquals(nodes, [
    "/b/rootfs/dev/null 1:3",
    "/b/rootfs/dev/zero 1:5",
    "/b/rootfs/dev/full 1:7",
    "/b/rootfs/dev/random 1:8",
    "/b/rootfs/dev/urandom 1:9",
    "/b/rootfs/dev/tty 5:0",
  ]);
  const links = sys.named("symlink").map((a) => `${a[1]} -> ${a[0]}`);
  assert(links.includes("/b/rootfs/dev/fd -> /proc/self/fd"));
  assert(links.includes("/b/rootfs/dev/ptmx -> pts/ptmx"));
});

Deno.test("cgroup mounts wait for the cgroup namespace when the init creates one", () => {
  const sys = recordingSyscalls();
  const files = fakeFiles();
  const deferred = prepareRootfs(
    plan([{
      destination: "/sys/fs/cgroup",
      kind: "cgroup",
      type: "cgroup",
      source: "cgroup",
      flags: MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
      data: "",
      propagation: [],
    }], {
      newCgroupNs: true,
      cgroup: {
        joinFiles: [],
        mounts: [
          { name: "memory", version: 1, options: "memory", hostDir: "/sys/fs/cgroup/memory/x" },
          { name: "unified", version: 2, options: "", hostDir: "/sys/fs/cgroup/unified/x" },
        ],
      },
    }),
    { sys, fs: tree, files },
  );
  const locked = MS_NOSUID | MS_NODEV | MS_NOEXEC;
  assertEquals(sys.named("mount").slice(2), [
    ["tmpfs", "/b/rootfs/sys/fs/cgroup", "tmpfs", locked, "mode=755"],
    [null, "/b/rootfs/sys/fs/cgroup", null, MS_REMOUNT | locked | MS_RDONLY],
  ]);
  assertEquals(deferred, [
    { path: "/sys/fs/cgroup/memory", version: 1, options: "memory", flags: MS_RDONLY | locked },
    { path: "/sys/fs/cgroup/unified", version: 2, options: "", flags: MS_RDONLY | locked },
  ]);
  const later = recordingSyscalls();
  mountDeferred(deferred, { sys: later, fs: tree, files });
  assertEquals(later.named("mount"), [
    ["cgroup", "/sys/fs/cgroup/memory", "cgroup", MS_RDONLY | locked, "memory"],
    ["cgroup2", "/sys/fs/cgroup/unified", "cgroup2", MS_RDONLY | locked, null],
  ]);
});

Deno.test("pivot_root detaches the old root only after making it a slave", () => {
  const sys = recordingSyscalls();
  pivotInto("/b/rootfs", { sys, fs: tree, files: fakeFiles() });
  assertEquals(sys.calls.map((c) => [c.name, ...c.args]), [
    ["chdir", "/b/rootfs"],
    ["pivotRoot", ".", "."],
    ["mount", null, ".", null, MS_SLAVE | MS_REC],
    ["umount2", ".", MNT_DETACH],
    ["chdir", "/"],
  ]);
});

Deno.test("masked dirs get a read-only tmpfs, masked files /dev/null, missing ones nothing", () => {
  const inside = fakeFs({
    "/proc/keys": { type: "file" },
    "/proc/acpi": { type: "dir" },
    "/proc/sys": { type: "dir" },
    "/": { type: "dir" },
  });
  const sys = recordingSyscalls({
    mountFlagsOf: () => MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY,
  });
  const files = fakeFiles();
  finishRootfs(
    plan([], {
      maskedPaths: ["/proc/keys", "/proc/acpi", "/proc/missing"],
      readonlyPaths: ["/proc/sys", "/proc/nothere"],
      hostname: "box",
      rootReadonly: true,
      sysctl: { "net.ipv4.ip_forward": "1" },
      oomScoreAdj: 100,
    }),
    { sys, fs: inside, files },
  );
  const locked = MS_NOSUID | MS_NODEV | MS_NOEXEC;
  assertEquals(sys.named("mount"), [
    ["/dev/null", "/proc/keys", null, MS_BIND],
    ["tmpfs", "/proc/acpi", "tmpfs", MS_RDONLY, null],
    ["/proc/sys", "/proc/sys", null, MS_BIND | MS_REC],
    [null, "/proc/sys", null, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC | locked],
    [null, "/", null, MS_BIND | MS_REMOUNT | MS_RDONLY | locked],
  ]);
  assertEquals(sys.named("sethostname"), [["box"]]);
  assert(files.log.includes("write /proc/sys/net/ipv4/ip_forward=1"));
  assert(files.log.includes("write /proc/self/oom_score_adj=100"));
});

const sysBind: PlannedMount = {
  destination: "/sys",
  kind: "bind",
  type: "",
  source: "/sys",
  flags: MS_BIND | MS_REC | MS_RDONLY,
  data: "",
  propagation: [],
};

Deno.test("a read-only rbind makes its whole subtree read-only with mount_setattr", () => {
  const sys = recordingSyscalls();
  prepareRootfs(plan([sysBind]), {
    sys,
    fs: fakeFs({ "/sys": { type: "dir" } }),
    files: fakeFiles(),
  });
  assertEquals(sys.named("mountSetattr"), [["/b/rootfs/sys", MOUNT_ATTR_RDONLY, 0, true]]);
});

Deno.test("without mount_setattr each submount of a read-only rbind is remounted read-only", () => {
  const sys = recordingSyscalls({
    mountSetattr: () => {
      throw new ErrnoError("mount_setattr", 38);
    },
  });
  const files = fakeFiles();
  files.readFile = () =>
    [
      "1 0 8:1 / / rw - ext4 /dev/sda rw",
      "2 1 0:5 / /b/rootfs/sys rw - sysfs sysfs rw",
      "3 2 0:6 / /b/rootfs/sys/fs/cgroup rw - tmpfs tmpfs rw",
      "4 1 0:7 / /b/rootfs/sysx rw - tmpfs tmpfs rw",
    ].join("\n");
  prepareRootfs(plan([sysBind]), { sys, fs: fakeFs({ "/sys": { type: "dir" } }), files });
  assertEquals(sys.named("mount").slice(-1), [
    [null, "/b/rootfs/sys/fs/cgroup", null, MS_REMOUNT | MS_BIND | MS_RDONLY],
  ]);
});

Deno.test("submounts are found below a path only, with octal escapes decoded", () => {
  const info =
    "1 0 0:1 / /a rw - x x rw\n2 1 0:2 / /a/b\\040c rw - x x rw\n3 1 0:3 / /ab rw - x x rw";
  assertEquals(submountsOf(info, "/a"), ["/a/b c"]);
});
