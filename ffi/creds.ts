/**
 * Credentials and capabilities of the calling thread: uids, gids, groups,
 * capget/capset (raw syscalls), bounding and ambient sets.
 * @module
 */

import { libc } from "./libc.ts";
import { arch } from "./arch.ts";
import { check } from "./check.ts";
import { addr } from "./cstr.ts";
import {
  PR_CAP_AMBIENT,
  PR_CAP_AMBIENT_CLEAR_ALL,
  PR_CAP_AMBIENT_RAISE,
  PR_CAPBSET_DROP,
  PR_CAPBSET_READ,
  PR_SET_KEEPCAPS,
  prctl,
} from "./proc.ts";
import { CAP_LAST_KNOWN } from "./caps.ts";

export function setresuid(r: number, e: number, s: number): void {
  check(libc().setresuid(r, e, s), "setresuid", [r, e, s]);
}

export function setresgid(r: number, e: number, s: number): void {
  check(libc().setresgid(r, e, s), "setresgid", [r, e, s]);
}

export function setgroups(gids: readonly number[]): void {
  const buf = new Uint32Array(gids.length || 1);
  buf.set(gids);
  check(
    libc().setgroups(BigInt(gids.length), new Uint8Array(buf.buffer)),
    "setgroups",
    [gids.join(",")],
  );
}

/** The three capability sets as 64-bit masks. */
export interface CapSets {
  effective: bigint;
  permitted: bigint;
  inheritable: bigint;
}

const CAP_V3 = 0x20080522;

export function capget(pid = 0): CapSets {
  const hdr = new Uint32Array([CAP_V3, pid]);
  const data = new Uint32Array(6); // two __user_cap_data_struct {effective, permitted, inheritable}
  check(
    libc().syscall(BigInt(arch().sys.capget), addr(hdr), addr(data), 0n, 0n, 0n, 0n),
    "capget",
    [pid],
  );
  const join = (lo: number, hi: number) => (BigInt(hi) << 32n) | BigInt(lo);
  return {
    effective: join(data[0], data[3]),
    permitted: join(data[1], data[4]),
    inheritable: join(data[2], data[5]),
  };
}

export function capset(sets: CapSets): void {
  const hdr = new Uint32Array([CAP_V3, 0]);
  const lo = (m: bigint) => Number(m & 0xffffffffn);
  const hi = (m: bigint) => Number((m >> 32n) & 0xffffffffn);
  const data = new Uint32Array([
    lo(sets.effective),
    lo(sets.permitted),
    lo(sets.inheritable),
    hi(sets.effective),
    hi(sets.permitted),
    hi(sets.inheritable),
  ]);
  check(
    libc().syscall(BigInt(arch().sys.capset), addr(hdr), addr(data), 0n, 0n, 0n, 0n),
    "capset",
    [],
    `effective=0x${sets.effective.toString(16)} permitted=0x${sets.permitted.toString(16)} ` +
      `inheritable=0x${sets.inheritable.toString(16)}`,
  );
}

/** The highest capability this kernel knows (/proc/sys/kernel/cap_last_cap). */
export function lastCap(): number {
  try {
    return Number(Deno.readTextFileSync("/proc/sys/kernel/cap_last_cap").trim());
  } catch {
    // Probe the bounding set: PR_CAPBSET_READ fails with EINVAL past the last cap.
    let n = 0;
    while (n < 63) {
      try {
        prctl(PR_CAPBSET_READ, n + 1);
        n++;
      } catch {
        break;
      }
    }
    return Math.max(n, CAP_LAST_KNOWN);
  }
}

export function capBoundingDrop(cap: number): void {
  prctl(PR_CAPBSET_DROP, cap);
}

export function capAmbientRaise(cap: number): void {
  check(libc().prctl(PR_CAP_AMBIENT, BigInt(PR_CAP_AMBIENT_RAISE), BigInt(cap), 0n, 0n), "prctl", [
    "PR_CAP_AMBIENT_RAISE",
    cap,
  ]);
}

export function capAmbientClearAll(): void {
  prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL);
}

export function setKeepCaps(on: boolean): void {
  prctl(PR_SET_KEEPCAPS, on ? 1 : 0);
}
