/**
 * Turns a container's resolved settings into an OCI runtime-spec config.json.
 * Pure: the engine writes the result into the bundle; the runtime executes it.
 * @module
 */

/** docker's default capability set for containers. */
export const DEFAULT_CAPABILITIES = [
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

/** docker's default masked paths. */
export const DEFAULT_MASKED_PATHS = [
  "/proc/asound",
  "/proc/acpi",
  "/proc/interrupts",
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

/** docker's default read-only paths. */
export const DEFAULT_READONLY_PATHS = [
  "/proc/bus",
  "/proc/fs",
  "/proc/irq",
  "/proc/sys",
  "/proc/sysrq-trigger",
];

/** "host" shares the host's network namespace; anything else gets a namespace of its own. */
export type NetworkMode = string;

/** An extra OCI mount (e.g. the generated /etc/hosts). */
export interface ExtraMount {
  destination: string;
  type: string;
  source: string;
  options: string[];
}

export interface BundleSettings {
  rootfs: string;
  args: string[];
  env: string[];
  cwd: string;
  uid: number;
  gid: number;
  additionalGids: number[];
  hostname: string;
  cgroupsPath: string;
  memory?: number;
  nanoCpus?: number;
  pidsLimit?: number;
  networkMode: NetworkMode;
  /** A network namespace to join instead of a new one (`--network container:NAME`). */
  netnsPath?: string;
  readonlyRootfs?: boolean;
  annotations?: Record<string, string>;
  /** Mounted after the standard ones. */
  extraMounts?: ExtraMount[];
}

const CPU_PERIOD_US = 100_000;

export function buildOciSpec(s: BundleSettings): Record<string, unknown> {
  const namespaces: { type: string; path?: string }[] = [
    { type: "pid" },
    { type: "mount" },
    { type: "ipc" },
    { type: "uts" },
    { type: "cgroup" },
  ];
  if (s.netnsPath) namespaces.push({ type: "network", path: s.netnsPath });
  else if (s.networkMode !== "host") namespaces.push({ type: "network" });

  const resources: Record<string, unknown> = {};
  if (s.memory) resources.memory = { limit: s.memory, swap: s.memory };
  if (s.nanoCpus) {
    resources.cpu = {
      quota: Math.max(1000, Math.round(s.nanoCpus * CPU_PERIOD_US / 1e9)),
      period: CPU_PERIOD_US,
    };
  }
  if (s.pidsLimit !== undefined && s.pidsLimit > 0) resources.pids = { limit: s.pidsLimit };

  const sysMount = s.networkMode === "host"
    // Without a new net namespace sysfs cannot be mounted fresh; bind the host's read-only.
    ? {
      destination: "/sys",
      type: "bind",
      source: "/sys",
      options: ["rbind", "nosuid", "noexec", "nodev", "ro"],
    }
    : {
      destination: "/sys",
      type: "sysfs",
      source: "sysfs",
      options: ["nosuid", "noexec", "nodev", "ro"],
    };

  return {
    ociVersion: "1.2.0",
    process: {
      terminal: false,
      user: { uid: s.uid, gid: s.gid, additionalGids: s.additionalGids },
      args: s.args,
      env: s.env,
      cwd: s.cwd,
      capabilities: {
        bounding: DEFAULT_CAPABILITIES,
        effective: DEFAULT_CAPABILITIES,
        permitted: DEFAULT_CAPABILITIES,
      },
      noNewPrivileges: false,
      oomScoreAdj: 0,
    },
    root: { path: s.rootfs, readonly: s.readonlyRootfs ?? false },
    hostname: s.hostname,
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
      sysMount,
      {
        destination: "/dev/mqueue",
        type: "mqueue",
        source: "mqueue",
        options: ["nosuid", "noexec", "nodev"],
      },
      {
        destination: "/dev/shm",
        type: "tmpfs",
        source: "shm",
        options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
      },
      ...(s.extraMounts ?? []),
    ],
    linux: {
      namespaces,
      cgroupsPath: s.cgroupsPath,
      resources,
      maskedPaths: DEFAULT_MASKED_PATHS,
      readonlyPaths: DEFAULT_READONLY_PATHS,
      rootfsPropagation: "rprivate",
    },
    annotations: s.annotations ?? {},
  };
}
