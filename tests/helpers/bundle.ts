/**
 * Test bundles: a busybox rootfs (from the static /bin/busybox of busybox-static) plus a
 * docker-like config.json, in a temp dir, with overrides per test.
 *
 * ```ts
 * const b = makeBundle({ args: ["sh", "-c", "echo $$"] });
 * try { ... b.dir ... } finally { b.cleanup(); }
 * ```
 * @module
 */

import { removeCgroupParent } from "../../src/security/mod.ts";

export const BUSYBOX = "/bin/busybox";

/** A config.json under construction; tests edit it freely, so it is loosely typed. */
// deno-lint-ignore no-explicit-any
export type Config = Record<string, any>;

const APPLETS = [
  "sh",
  "echo",
  "cat",
  "ls",
  "id",
  "hostname",
  "sleep",
  "ps",
  "mount",
  "readlink",
  "head",
  "dd",
  "true",
  "false",
  "env",
  "pwd",
  "wc",
  "grep",
  "awk",
  "touch",
  "mkdir",
  "rm",
  "test",
  "stat",
  "kill",
  "printf",
  "sed",
  "tr",
  "cut",
  "uname",
  "ln",
  "chmod",
  "find",
  "seq",
  "tail",
  "umount",
  "nproc",
  "whoami",
  "yes",
  "ip",
  "date",
  "timeout",
];

export const DOCKER_CAPS = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_FSETID",
  "CAP_FOWNER",
  "CAP_MKNOD",
  "CAP_NET_RAW",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETFCAP",
  "CAP_SETPCAP",
  "CAP_NET_BIND_SERVICE",
  "CAP_SYS_CHROOT",
  "CAP_KILL",
  "CAP_AUDIT_WRITE",
];

export const DOCKER_MASKED = [
  "/proc/asound",
  "/proc/acpi",
  "/proc/kcore",
  "/proc/keys",
  "/proc/latency_stats",
  "/proc/timer_list",
  "/proc/timer_stats",
  "/proc/sched_debug",
  "/proc/scsi",
  "/sys/firmware",
  "/sys/devices/virtual/powercap",
];

export const DOCKER_READONLY = [
  "/proc/bus",
  "/proc/fs",
  "/proc/irq",
  "/proc/sys",
  "/proc/sysrq-trigger",
];

export interface BundleOptions {
  args?: string[];
  env?: string[];
  cwd?: string;
  hostname?: string;
  uid?: number;
  gid?: number;
  additionalGids?: number[];
  /** Create a network namespace (default true). */
  network?: boolean;
  /** Create a cgroup namespace (default true). */
  cgroupNs?: boolean;
  cgroupsPath?: string;
  memoryBytes?: number;
  pidsLimit?: number;
  readonlyRoot?: boolean;
  /** Extra mounts appended after the default ones. */
  mounts?: Record<string, unknown>[];
  /** Last word: edits the config object before it is written. */
  edit?: (config: Config) => void;
}

export interface TestBundle {
  /** The temp dir holding config.json and rootfs/. */
  dir: string;
  rootfs: string;
  config: Config;
  /** Rewrites config.json from `config`. */
  write(): void;
  cleanup(): void;
}

/** A unique, short prefix for ids and cgroups of one test run. */
export function uniquePrefix(tag: string): string {
  return `polis-${tag}-${Math.random().toString(36).slice(2, 8)}`;
}

/**
 * Removes a test's cgroup parent (`prefix`) in every hierarchy once its containers are gone.
 * Called after each container rather than by a last "cleanup" test, so a filtered, failed or
 * interrupted file leaves nothing behind.
 */
export function removeTestCgroupParent(prefix: string): void {
  try {
    removeCgroupParent(prefix);
  } catch {
    // no container of this prefix got as far as a cgroup, or it is gone already
  }
}

export function isRoot(): boolean {
  return Deno.uid() === 0;
}

export function defaultConfig(o: BundleOptions = {}): Config {
  const namespaces: { type: string }[] = [
    { type: "pid" },
    { type: "mount" },
    { type: "uts" },
    { type: "ipc" },
  ];
  if (o.network !== false) namespaces.push({ type: "network" });
  if (o.cgroupNs !== false) namespaces.push({ type: "cgroup" });
  const resources: Record<string, unknown> = {
    devices: [
      { allow: false, access: "rwm" },
      { allow: true, type: "c", major: 1, minor: 3, access: "rwm" },
      { allow: true, type: "c", major: 1, minor: 5, access: "rwm" },
      { allow: true, type: "c", major: 1, minor: 7, access: "rwm" },
      { allow: true, type: "c", major: 1, minor: 8, access: "rwm" },
      { allow: true, type: "c", major: 1, minor: 9, access: "rwm" },
      { allow: true, type: "c", major: 5, minor: 0, access: "rwm" },
      { allow: true, type: "c", major: 5, minor: 1, access: "rwm" },
      { allow: true, type: "c", major: 5, minor: 2, access: "rwm" },
      { allow: true, type: "c", major: 136, access: "rwm" },
    ],
  };
  if (o.memoryBytes) resources.memory = { limit: o.memoryBytes };
  if (o.pidsLimit) resources.pids = { limit: o.pidsLimit };
  return {
    ociVersion: "1.2.0",
    process: {
      terminal: false,
      user: { uid: o.uid ?? 0, gid: o.gid ?? 0, additionalGids: o.additionalGids ?? [] },
      args: o.args ?? ["sh", "-c", "echo hello"],
      env: o.env ?? ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
      cwd: o.cwd ?? "/",
      capabilities: {
        bounding: DOCKER_CAPS,
        effective: DOCKER_CAPS,
        permitted: DOCKER_CAPS,
      },
      noNewPrivileges: false,
    },
    root: { path: "rootfs", readonly: o.readonlyRoot ?? false },
    hostname: o.hostname ?? "polis-test",
    mounts: [
      {
        destination: "/proc",
        type: "proc",
        source: "proc",
        options: ["nosuid", "noexec", "nodev"],
      },
      {
        destination: "/dev",
        type: "tmpfs",
        source: "tmpfs",
        options: ["nosuid", "strictatime", "mode=755", "size=65536k"],
      },
      {
        destination: "/dev/pts",
        type: "devpts",
        source: "devpts",
        options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
      },
      {
        destination: "/dev/shm",
        type: "tmpfs",
        source: "shm",
        options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
      },
      {
        destination: "/dev/mqueue",
        type: "mqueue",
        source: "mqueue",
        options: ["nosuid", "noexec", "nodev"],
      },
      {
        destination: "/sys",
        type: "sysfs",
        source: "sysfs",
        options: ["nosuid", "noexec", "nodev", "ro"],
      },
      {
        destination: "/sys/fs/cgroup",
        type: "cgroup",
        source: "cgroup",
        options: ["ro", "nosuid", "noexec", "nodev"],
      },
      ...(o.mounts ?? []),
    ],
    linux: {
      namespaces,
      ...(o.cgroupsPath ? { cgroupsPath: o.cgroupsPath } : {}),
      resources,
      maskedPaths: DOCKER_MASKED,
      readonlyPaths: DOCKER_READONLY,
      rootfsPropagation: "rprivate",
    },
    annotations: { "org.polis.test": "1" },
  };
}

/** Writes a busybox rootfs with /etc/passwd, /etc/group and /tmp into `rootfs`. */
export function makeRootfs(rootfs: string): void {
  for (const d of ["bin", "etc", "tmp", "proc", "sys", "dev", "root", "home/nobody"]) {
    Deno.mkdirSync(`${rootfs}/${d}`, { recursive: true });
  }
  Deno.chmodSync(`${rootfs}/tmp`, 0o1777);
  Deno.copyFileSync(BUSYBOX, `${rootfs}/bin/busybox`);
  Deno.chmodSync(`${rootfs}/bin/busybox`, 0o755);
  for (const a of APPLETS) Deno.symlinkSync("busybox", `${rootfs}/bin/${a}`);
  Deno.writeTextFileSync(
    `${rootfs}/etc/passwd`,
    "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home/nobody:/bin/sh\n",
  );
  Deno.writeTextFileSync(`${rootfs}/etc/group`, "root:x:0:\nnobody:x:65534:\n");
}

export function makeBundle(o: BundleOptions = {}): TestBundle {
  const dir = Deno.makeTempDirSync({ prefix: "polis-bundle-" });
  const rootfs = `${dir}/rootfs`;
  makeRootfs(rootfs);
  const config = defaultConfig(o);
  o.edit?.(config);
  const b: TestBundle = {
    dir,
    rootfs,
    config,
    write: () => Deno.writeTextFileSync(`${dir}/config.json`, JSON.stringify(config, null, 2)),
    cleanup: () => {
      try {
        Deno.removeSync(dir, { recursive: true });
      } catch {
        // already gone
      }
    },
  };
  b.write();
  return b;
}

/** The dev entry that dispatches _init/_setup/oci until main.ts does. */
export const DEV_MAIN = new URL("../../src/runtime/dev-main.ts", import.meta.url).pathname;

/** Points selfCommand() at the dev entry unless the caller already chose one. */
export function useDevSelf(): void {
  if (!Deno.env.get("POLIS_SELF")) {
    Deno.env.set("POLIS_SELF", `${Deno.execPath()} run -A --unstable-net --quiet ${DEV_MAIN}`);
  }
}

export interface OciResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `polis oci --root <root> <args>` through POLIS_SELF. Output goes through files, not
 * pipes: after `create` the container's init keeps them open until it exits. With `outFile`
 * stdout and stderr are appended there (the container's output lands there too) and the
 * result's stdout/stderr are empty.
 */
export async function oci(root: string, args: string[], outFile?: string): Promise<OciResult> {
  useDevSelf();
  const self = Deno.env.get("POLIS_SELF")!.split(" ").filter(Boolean);
  const dir = Deno.makeTempDirSync({ prefix: "polis-oci-out-" });
  try {
    const q = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
    const cmd = [...self, "oci", "--root", root, ...args].map(q).join(" ");
    const redirect = outFile ? `>>${q(outFile)} 2>&1` : `>${q(`${dir}/out`)} 2>${q(`${dir}/err`)}`;
    const st = await new Deno.Command("/bin/sh", {
      args: ["-c", `exec ${cmd} ${redirect} </dev/null`],
    }).output();
    const read = (f: string) => (outFile ? "" : Deno.readTextFileSync(`${dir}/${f}`));
    return { code: st.code, stdout: read("out"), stderr: read("err") };
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

/** Waits until `fn` returns true (polling), or fails after `ms`. */
export async function waitFor(fn: () => boolean, ms = 10_000, what = "condition"): Promise<void> {
  const deadline = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
