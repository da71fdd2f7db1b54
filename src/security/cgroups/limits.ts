/**
 * Pure translation of resource limits into control-file writes for v1 and v2, plus the small
 * parsers used for stats. The drivers perform the writes; this module decides them.
 * @module
 */

import { PolisError } from "../../core/mod.ts";

/** One device cgroup rule (OCI linux.resources.devices); an absent major/minor means "*". */
export interface DeviceRule {
  allow: boolean;
  /** "a" (all), "c" (char) or "b" (block). */
  type: "a" | "b" | "c";
  major?: number;
  minor?: number;
  /** Some of "r", "w", "m". */
  access: string;
}

/**
 * Limits for one container. Following docker and runc: a field left out or set to 0 is not
 * applied; -1 means unlimited where that makes sense (memory, swap, quota, pids).
 */
export interface CgroupLimits {
  memoryBytes?: number;
  /** Memory plus swap (docker's --memory-swap); must be >= memoryBytes, or -1. */
  memorySwapBytes?: number;
  /** v1 cpu.shares, 2..262144; on v2 converted to cpu.weight. */
  cpuShares?: number;
  cpuQuotaUs?: number;
  cpuPeriodUs?: number;
  pidsLimit?: number;
  /** Device rules, applied in order (v1 devices controller only). */
  devices?: DeviceRule[];
}

/** Docker's default device policy: deny all, then allow the usual character devices. */
export const DEFAULT_DEVICE_RULES: readonly DeviceRule[] = Object.freeze([
  { allow: false, type: "a", access: "rwm" },
  { allow: true, type: "c", major: 1, minor: 3, access: "rwm" }, // null
  { allow: true, type: "c", major: 1, minor: 5, access: "rwm" }, // zero
  { allow: true, type: "c", major: 1, minor: 7, access: "rwm" }, // full
  { allow: true, type: "c", major: 1, minor: 8, access: "rwm" }, // random
  { allow: true, type: "c", major: 1, minor: 9, access: "rwm" }, // urandom
  { allow: true, type: "c", major: 5, minor: 0, access: "rwm" }, // tty
  { allow: true, type: "c", major: 5, minor: 1, access: "rwm" }, // console
  { allow: true, type: "c", major: 5, minor: 2, access: "rwm" }, // ptmx
  { allow: true, type: "c", major: 136, access: "rwm" }, // pts/*
  { allow: true, type: "c", major: 10, minor: 200, access: "rwm" }, // net/tun
  { allow: true, type: "c", access: "m" }, // mknod of any char device
  { allow: true, type: "b", access: "m" }, // mknod of any block device
] as DeviceRule[]);

/** A write of `value` into `<cgroup dir>/<file>` of the hierarchy holding `controller`. */
export interface ControlWrite {
  controller: string;
  file: string;
  value: string;
  /** Skip silently when the file does not exist (e.g. swap accounting is off). */
  optional?: boolean;
}

function isSet(v: number | undefined): v is number {
  return v !== undefined && v !== 0;
}

function checkInt(name: string, v: number | undefined, min: number, allowUnlimited: boolean) {
  if (v === undefined || v === 0) return;
  if (allowUnlimited && v === -1) return;
  if (!Number.isSafeInteger(v) || v < min) {
    const extra = allowUnlimited ? " (or -1 for unlimited)" : "";
    throw PolisError.invalid(`cgroup limit ${name}=${v} must be an integer >= ${min}${extra}`);
  }
}

/** Rejects values that no kernel accepts; range checks beyond that are left to the kernel. */
export function validateLimits(l: CgroupLimits): void {
  checkInt("memoryBytes", l.memoryBytes, 1, true);
  checkInt("memorySwapBytes", l.memorySwapBytes, 1, true);
  checkInt("cpuShares", l.cpuShares, 2, false);
  if (isSet(l.cpuShares) && l.cpuShares > 262144) {
    throw PolisError.invalid(`cgroup limit cpuShares=${l.cpuShares} must be at most 262144`);
  }
  checkInt("cpuQuotaUs", l.cpuQuotaUs, 1, true);
  checkInt("cpuPeriodUs", l.cpuPeriodUs, 1, false);
  checkInt("pidsLimit", l.pidsLimit, 1, true);
  if (isSet(l.memorySwapBytes) && l.memorySwapBytes !== -1) {
    if (!isSet(l.memoryBytes) || l.memoryBytes === -1) {
      throw PolisError.invalid(
        `cgroup limit memorySwapBytes=${l.memorySwapBytes} needs a memoryBytes limit`,
      );
    }
    if (l.memorySwapBytes < l.memoryBytes) {
      throw PolisError.invalid(
        `cgroup limit memorySwapBytes=${l.memorySwapBytes} is below memoryBytes=${l.memoryBytes}`,
      );
    }
  }
  for (const d of l.devices ?? []) formatDeviceRule(d);
}

/** cpu.shares (2..262144) → cpu.weight (1..10000), the conversion runc and crun use. */
export function sharesToWeight(shares: number): number {
  if (shares === 0) return 100;
  return 1 + Math.floor(((shares - 2) * 9999) / 262142);
}

export function formatDeviceRule(r: DeviceRule): string {
  if (!["a", "b", "c"].includes(r.type)) {
    throw PolisError.invalid(`device rule type ${JSON.stringify(r.type)} must be a, b or c`);
  }
  if (
    r.access === "" || !/^[rwm]{1,3}$/.test(r.access) || new Set(r.access).size !== r.access.length
  ) {
    throw PolisError.invalid(`device rule access ${JSON.stringify(r.access)} must use r, w, m`);
  }
  for (const n of [r.major, r.minor]) {
    if (n !== undefined && n !== -1 && (!Number.isSafeInteger(n) || n < 0)) {
      throw PolisError.invalid(`device rule number ${n} must be a non-negative integer`);
    }
  }
  if (r.type === "a") return "a";
  const num = (n: number | undefined) => (n === undefined || n === -1 ? "*" : String(n));
  return `${r.type} ${num(r.major)}:${num(r.minor)} ${r.access}`;
}

/** Controllers a v1 host must have mounted for these limits. */
export function v1ControllersFor(l: CgroupLimits): string[] {
  const out: string[] = [];
  if (isSet(l.memoryBytes) || isSet(l.memorySwapBytes)) out.push("memory");
  if (isSet(l.cpuShares) || isSet(l.cpuQuotaUs) || isSet(l.cpuPeriodUs)) out.push("cpu");
  if (isSet(l.pidsLimit)) out.push("pids");
  if (l.devices && l.devices.length > 0) out.push("devices");
  return out;
}

/** Controllers a v2 cgroup must have in its cgroup.controllers for these limits. */
export function v2ControllersFor(l: CgroupLimits): string[] {
  return v1ControllersFor(l).filter((c) => c !== "devices");
}

/**
 * v1 writes in a safe order. The kernel keeps memory <= memory+swap at every step, so when the
 * new memory limit would exceed the current memsw limit, memsw has to be raised first.
 * `currentMemswLimit` is null for unlimited (a fresh cgroup).
 */
export function v1LimitWrites(l: CgroupLimits, currentMemswLimit: number | null): ControlWrite[] {
  const out: ControlWrite[] = [];
  const mem: ControlWrite[] = [];
  if (isSet(l.memoryBytes)) {
    mem.push({ controller: "memory", file: "memory.limit_in_bytes", value: String(l.memoryBytes) });
  }
  if (isSet(l.memorySwapBytes)) {
    const sw: ControlWrite = {
      controller: "memory",
      file: "memory.memsw.limit_in_bytes",
      value: String(l.memorySwapBytes),
      optional: true,
    };
    const newMem = isSet(l.memoryBytes) ? l.memoryBytes : -1;
    const raising = l.memorySwapBytes === -1 ||
      (currentMemswLimit !== null && (newMem === -1 || newMem > currentMemswLimit));
    if (raising) mem.unshift(sw);
    else mem.push(sw);
  }
  out.push(...mem);
  if (isSet(l.cpuShares)) {
    out.push({ controller: "cpu", file: "cpu.shares", value: String(l.cpuShares) });
  }
  // Period first: a quota is judged against the period in force.
  if (isSet(l.cpuPeriodUs)) {
    out.push({ controller: "cpu", file: "cpu.cfs_period_us", value: String(l.cpuPeriodUs) });
  }
  if (isSet(l.cpuQuotaUs)) {
    out.push({ controller: "cpu", file: "cpu.cfs_quota_us", value: String(l.cpuQuotaUs) });
  }
  if (isSet(l.pidsLimit)) {
    const v = l.pidsLimit === -1 ? "max" : String(l.pidsLimit);
    out.push({ controller: "pids", file: "pids.max", value: v });
  }
  for (const d of l.devices ?? []) {
    out.push({
      controller: "devices",
      file: d.allow ? "devices.allow" : "devices.deny",
      value: formatDeviceRule(d),
    });
  }
  return out;
}

export function v2LimitWrites(l: CgroupLimits): ControlWrite[] {
  const out: ControlWrite[] = [];
  if (isSet(l.memoryBytes)) {
    const v = l.memoryBytes === -1 ? "max" : String(l.memoryBytes);
    out.push({ controller: "memory", file: "memory.max", value: v });
  }
  if (isSet(l.memorySwapBytes)) {
    // v2 limits swap alone; docker's value is memory + swap.
    const v = l.memorySwapBytes === -1 ? "max" : String(l.memorySwapBytes - (l.memoryBytes ?? 0));
    out.push({ controller: "memory", file: "memory.swap.max", value: v, optional: true });
  }
  if (isSet(l.cpuShares)) {
    out.push({ controller: "cpu", file: "cpu.weight", value: String(sharesToWeight(l.cpuShares)) });
  }
  if (isSet(l.cpuQuotaUs) || isSet(l.cpuPeriodUs)) {
    const q = !isSet(l.cpuQuotaUs) || l.cpuQuotaUs === -1 ? "max" : String(l.cpuQuotaUs);
    const v = isSet(l.cpuPeriodUs) ? `${q} ${l.cpuPeriodUs}` : q;
    out.push({ controller: "cpu", file: "cpu.max", value: v });
  }
  if (isSet(l.pidsLimit)) {
    const v = l.pidsLimit === -1 ? "max" : String(l.pidsLimit);
    out.push({ controller: "pids", file: "pids.max", value: v });
  }
  return out;
}

/** Parses "key value" lines (memory.events, cpu.stat, memory.oom_control, pids.events). */
export function parseFlatKeyed(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined && /^-?\d+$/.test(v)) out.set(k, Number(v));
  }
  return out;
}

/** v1 reports "unlimited" as a huge page-aligned number, v2 as "max": both become null. */
export function parseLimit(text: string): number | null {
  const t = text.trim();
  if (t === "max" || t === "" || t === "-1") return null;
  const n = Number(t);
  if (!Number.isFinite(n) || n >= 2 ** 62) return null;
  return n;
}
