/**
 * Turns a validated spec into the plan the helper and the container's init execute: resolved
 * paths, numeric capabilities and rlimits, classified namespaces and mounts. Everything the
 * runtime refuses is refused here, before anything exists on the host. The plan is JSON so
 * it can be handed to the helper and init processes through a file.
 * @module
 */

import { PolisError } from "../core/mod.ts";
import type { CgroupLimits, DeviceRule } from "../security/mod.ts";
import { capabilityNumber, MS_BIND, MS_REC, RLIM_INFINITY, RLIMITS } from "../../ffi/mod.ts";
import type { Spec } from "./spec.ts";
import { parseMountOptions, PROPAGATION_FLAGS } from "./mountopts.ts";
import { type FsView, realFs } from "./fsview.ts";
import { normalizePath } from "./lookpath.ts";

export type PlannedNamespace =
  | "pid"
  | "network"
  | "mount"
  | "ipc"
  | "uts"
  | "cgroup"
  | "time";

export interface PlannedMount {
  /** Normalised absolute destination inside the container. */
  destination: string;
  kind: "bind" | "proc" | "cgroup" | "fs";
  /** Filesystem type for kind "fs"/"proc"; "" for binds. */
  type: string;
  /** Absolute host path for binds; the fs source name otherwise. */
  source: string;
  flags: number;
  data: string;
  propagation: number[];
}

export interface PlannedDevice {
  path: string;
  type: "c" | "b" | "u" | "p";
  major: number;
  minor: number;
  fileMode: number;
  uid: number;
  gid: number;
}

export interface PlannedCaps {
  bounding: number[];
  effective: number[];
  permitted: number[];
  inheritable: number[];
  ambient: number[];
}

export interface PlannedRlimit {
  name: string;
  resource: number;
  /** Decimal strings: rlimits are 64-bit and JSON numbers are not. */
  soft: string;
  hard: string;
}

/** One cgroup hierarchy as the container should see it under its cgroup mount. */
export interface CgroupMountPlan {
  /** Directory name below the cgroup mount ("memory", "cpu,cpuacct", "unified"); "" = itself. */
  name: string;
  version: 1 | 2;
  /** v1 mount data naming the hierarchy ("memory", "none,name=systemd"). */
  options: string;
  /** The container's own cgroup directory in that hierarchy on the host. */
  hostDir: string;
}

export interface InitPlan {
  version: 1;
  id: string;
  bundle: string;
  rootfs: string;
  rootReadonly: boolean;
  /** Propagation for "/" before pivot_root (private or slave variants). */
  rootPropagation: number;
  /** Applied to "/" after pivot_root when the spec asked for shared/unbindable. */
  rootPropagationAfter: number;
  hostname?: string;
  /** Namespaces the helper joins (with path) or creates; "cgroup" without a path is the init's. */
  namespaces: { type: PlannedNamespace; path?: string }[];
  newNetwork: boolean;
  /** The init unshares the cgroup namespace itself after joining its cgroup. */
  newCgroupNs: boolean;
  mounts: PlannedMount[];
  /** Make the default /dev nodes and links (the spec mounts a fresh /dev). */
  defaultDevices: boolean;
  devices: PlannedDevice[];
  maskedPaths: string[];
  readonlyPaths: string[];
  sysctl: Record<string, string>;
  oomScoreAdj?: number;
  process: {
    args: string[];
    env: string[];
    cwd: string;
    uid: number;
    gid: number;
    additionalGids: number[];
    umask?: number;
    caps?: PlannedCaps;
    rlimits: PlannedRlimit[];
    noNewPrivileges: boolean;
  };
  execFifo: string;
  /**
   * `joinFiles`: what the init writes "0" into right before execve (JoinFiles.byThread);
   * `earlyJoinFiles`: right after its report (JoinFiles.byPid).
   */
  cgroup: { joinFiles: string[]; earlyJoinFiles?: string[]; mounts: CgroupMountPlan[] };
  stdio?: { stdin?: string; stdout: string; stderr: string };
}

export interface PlanInput {
  id: string;
  /** Absolute bundle directory. */
  bundle: string;
  stateDir: string;
  stdio?: { stdin?: string; stdout: string; stderr: string };
}

/** Namespaced sysctls, and the namespace each needs (as runc and docker allow). */
const SYSCTL_NS: [RegExp, PlannedNamespace][] = [
  [/^kernel\.(msgmax|msgmnb|msgmni|sem|shmall|shmmax|shmmni|shm_rmid_forced)$/, "ipc"],
  [/^fs\.mqueue\./, "ipc"],
  [/^net\./, "network"],
  [/^kernel\.(hostname|domainname)$/, "uts"],
];

const ID_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9_.+-]{0,127}$/;

export function validateId(id: string): void {
  if (!ID_PATTERN.test(id)) {
    throw PolisError.invalid(
      `invalid container id ${JSON.stringify(id)}: use 1-128 of [a-zA-Z0-9_.+-], ` +
        `starting with a letter or digit`,
    );
  }
}

function caps(names: readonly string[] | undefined): number[] {
  return [...new Set((names ?? []).map((n) => capabilityNumber(n)!))].sort((a, b) => a - b);
}

function rlimitValue(n: number): string {
  // 2^63 and above (including JSON's rounded 2^64-1) mean RLIM_INFINITY.
  return n >= 2 ** 63 ? RLIM_INFINITY.toString() : BigInt(n).toString();
}

function refuse(msg: string): never {
  throw PolisError.precondition(msg);
}

/** The spec's resources as cgroup limits (0 and absent mean "not set", as in docker). */
export function limitsFromSpec(spec: Spec): CgroupLimits {
  const r = spec.linux?.resources;
  const l: CgroupLimits = {};
  if (!r) return l;
  if (r.memory?.limit) l.memoryBytes = r.memory.limit;
  if (r.memory?.swap) l.memorySwapBytes = r.memory.swap;
  if (r.cpu?.shares) l.cpuShares = r.cpu.shares;
  if (r.cpu?.quota) l.cpuQuotaUs = r.cpu.quota;
  if (r.cpu?.period) l.cpuPeriodUs = r.cpu.period;
  if (r.pids?.limit) l.pidsLimit = r.pids.limit;
  if (r.devices) {
    l.devices = r.devices.map((d): DeviceRule => ({
      allow: d.allow,
      type: d.type ?? "a",
      major: d.major === null || d.major === undefined || d.major < 0 ? undefined : d.major,
      minor: d.minor === null || d.minor === undefined || d.minor < 0 ? undefined : d.minor,
      access: d.access || "rwm",
    }));
  }
  return l;
}

/** OCI linux.cgroupsPath, or `polis/<id>` below the caller's own cgroup. */
export function cgroupsPathOf(spec: Spec, id: string): string {
  return spec.linux?.cgroupsPath || `polis/${id}`;
}

/**
 * Validates what the schema cannot and resolves the spec into an InitPlan (without the cgroup
 * part, which exists only once the cgroup is made). Throws invalid_argument or
 * failed_precondition; touches nothing.
 */
export function buildPlan(spec: Spec, input: PlanInput, fs: FsView = realFs): InitPlan {
  validateId(input.id);
  const p = spec.process;
  const linux = spec.linux ?? {};

  if (p.terminal) {
    refuse("process.terminal: a terminal (console socket) is not supported by this runtime");
  }
  if (linux.uidMappings?.length || linux.gidMappings?.length) {
    refuse(
      "linux.uidMappings: user namespaces are not supported: CLONE_NEWUSER is impossible " +
        "in a multi-threaded (Deno) process",
    );
  }
  if (linux.seccomp !== undefined) {
    refuse("linux.seccomp: seccomp filters are not supported by this runtime yet");
  }

  const namespaces: InitPlan["namespaces"] = [];
  const seen = new Set<string>();
  for (const [i, ns] of (linux.namespaces ?? []).entries()) {
    if (ns.type === "user") {
      refuse(
        `linux.namespaces[${i}]: user namespaces are not supported: CLONE_NEWUSER is ` +
          `impossible in a multi-threaded (Deno) process`,
      );
    }
    if (seen.has(ns.type)) {
      throw PolisError.invalid(`linux.namespaces[${i}]: duplicate namespace type "${ns.type}"`);
    }
    seen.add(ns.type);
    if (ns.path !== undefined && !fs.stat(ns.path)) {
      throw PolisError.invalid(`linux.namespaces[${i}].path: ${ns.path} does not exist`);
    }
    namespaces.push({ type: ns.type, ...(ns.path ? { path: ns.path } : {}) });
  }
  const isNew = (t: PlannedNamespace) => namespaces.some((n) => n.type === t && !n.path);
  const has = (t: PlannedNamespace) => namespaces.some((n) => n.type === t);
  if (!has("mount")) {
    refuse("linux.namespaces: a mount namespace is required (the rootfs is pivoted into)");
  }

  if (spec.hostname !== undefined && spec.hostname !== "" && !isNew("uts")) {
    throw PolisError.invalid("hostname: setting a hostname needs a new uts namespace");
  }

  const rootfs = normalizePath(
    spec.root.path.startsWith("/") ? spec.root.path : `${input.bundle}/${spec.root.path}`,
  );
  const rootSt = fs.stat(rootfs);
  if (!rootSt?.isDirectory) {
    throw PolisError.invalid(`root.path: ${rootfs} is not a directory`);
  }

  const mounts: PlannedMount[] = [];
  for (const [i, m] of (spec.mounts ?? []).entries()) {
    const destination = normalizePath(m.destination);
    const opts = parseMountOptions(m.options, m.type);
    const type = m.type ?? "";
    if (opts.bind) {
      if (!m.source) throw PolisError.invalid(`mounts[${i}].source: a bind mount needs a source`);
      const source = normalizePath(
        m.source.startsWith("/") ? m.source : `${input.bundle}/${m.source}`,
      );
      if (!fs.stat(source)) {
        throw PolisError.invalid(`mounts[${i}].source: ${source} does not exist`);
      }
      mounts.push({ destination, kind: "bind", type: "", source, ...opts });
    } else if (type === "sysfs" && !isNew("network")) {
      // sysfs belongs to a network namespace: without a new one, show the host's read-only.
      mounts.push({
        destination,
        kind: "bind",
        type: "",
        source: "/sys",
        flags: opts.flags | MS_BIND | MS_REC,
        data: "",
        propagation: opts.propagation,
      });
    } else if (type === "cgroup" || type === "cgroup2") {
      mounts.push({ destination, kind: "cgroup", type, source: m.source ?? "cgroup", ...opts });
    } else if (type === "proc") {
      mounts.push({ destination, kind: "proc", type, source: m.source ?? "proc", ...opts });
    } else {
      if (type === "") {
        throw PolisError.invalid(`mounts[${i}].type: is required for a non-bind mount`);
      }
      mounts.push({ destination, kind: "fs", type, source: m.source ?? type, ...opts });
    }
  }

  const sysctl = linux.sysctl ?? {};
  for (const key of Object.keys(sysctl)) {
    const rule = SYSCTL_NS.find(([re]) => re.test(key));
    if (!rule) refuse(`linux.sysctl: "${key}" is not namespaced and cannot be set per container`);
    if (!isNew(rule[1]) && !has(rule[1])) {
      refuse(`linux.sysctl: "${key}" needs a ${rule[1]} namespace`);
    }
  }

  const propagation = linux.rootfsPropagation ?? "rprivate";
  const pflag = PROPAGATION_FLAGS[propagation];
  const early = /slave|private/.test(propagation);

  const c = p.capabilities;
  const plannedCaps: PlannedCaps | undefined = c
    ? {
      bounding: caps(c.bounding),
      effective: caps(c.effective),
      permitted: caps(c.permitted),
      inheritable: caps(c.inheritable),
      ambient: caps(c.ambient),
    }
    : undefined;

  const rlimits: PlannedRlimit[] = (p.rlimits ?? []).map((r) => ({
    name: r.type,
    resource: RLIMITS[r.type],
    soft: rlimitValue(r.soft),
    hard: rlimitValue(r.hard),
  }));

  return {
    version: 1,
    id: input.id,
    bundle: input.bundle,
    rootfs,
    rootReadonly: spec.root.readonly ?? false,
    rootPropagation: early ? pflag : PROPAGATION_FLAGS.rprivate,
    rootPropagationAfter: early ? 0 : pflag,
    ...(spec.hostname ? { hostname: spec.hostname } : {}),
    namespaces,
    newNetwork: isNew("network"),
    newCgroupNs: isNew("cgroup"),
    mounts,
    defaultDevices: mounts.some((m) => m.destination === "/dev"),
    devices: (linux.devices ?? []).map((d) => ({
      path: normalizePath(d.path),
      type: d.type,
      major: d.major ?? 0,
      minor: d.minor ?? 0,
      fileMode: d.fileMode ?? 0o666,
      uid: d.uid ?? 0,
      gid: d.gid ?? 0,
    })),
    maskedPaths: linux.maskedPaths ?? [],
    readonlyPaths: linux.readonlyPaths ?? [],
    sysctl,
    ...(p.oomScoreAdj !== undefined ? { oomScoreAdj: p.oomScoreAdj } : {}),
    process: {
      args: p.args,
      env: p.env ?? [],
      cwd: normalizePath(p.cwd),
      uid: p.user.uid,
      gid: p.user.gid,
      additionalGids: p.user.additionalGids ?? [],
      ...(p.user.umask !== undefined ? { umask: p.user.umask } : {}),
      ...(plannedCaps ? { caps: plannedCaps } : {}),
      rlimits,
      noNewPrivileges: p.noNewPrivileges ?? false,
    },
    execFifo: `${input.stateDir}/exec.fifo`,
    cgroup: { joinFiles: [], mounts: [] },
    ...(input.stdio ? { stdio: input.stdio } : {}),
  };
}
