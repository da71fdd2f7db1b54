/**
 * The last privileged steps before execve: bounding set, groups, gids, uids and the
 * capability sets of the workload, in the order that keeps the needed privileges until the end.
 * @module
 */

import type { Syscalls } from "../../ffi/mod.ts";
import type { InitPlan } from "./plan.ts";
import { step } from "./initenv.ts";

export function capMask(caps: readonly number[]): bigint {
  let m = 0n;
  for (const c of caps) m |= 1n << BigInt(c);
  return m;
}

/**
 * Drops the bounding set to the spec's, switches to the spec's user and groups, and sets the
 * effective/permitted/inheritable and ambient sets. Without `caps` in the spec the kernel's
 * rules apply unchanged (root keeps all, others get none).
 */
export function applyCredentials(p: InitPlan["process"], lastCap: number, sys: Syscalls): void {
  const caps = p.caps;
  if (caps) {
    const keep = new Set(caps.bounding);
    step("dropping capabilities from the bounding set", () => {
      for (let c = 0; c <= lastCap; c++) if (!keep.has(c)) sys.capBoundingDrop(c);
    });
  }
  // Changing from uid 0 clears the permitted set unless KEEPCAPS is on.
  const keepCaps = caps !== undefined && p.uid !== 0;
  if (keepCaps) sys.setKeepCaps(true);
  step("setting supplementary groups", () => sys.setgroups(p.additionalGids));
  step(`setting gid ${p.gid}`, () => sys.setresgid(p.gid, p.gid, p.gid));
  step(`setting uid ${p.uid}`, () => sys.setresuid(p.uid, p.uid, p.uid));
  if (keepCaps) sys.setKeepCaps(false);
  if (caps) {
    step("setting capabilities", () =>
      sys.capset({
        effective: capMask(caps.effective),
        permitted: capMask(caps.permitted),
        inheritable: capMask(caps.inheritable),
      }));
    if (caps.ambient.length > 0) {
      step("raising ambient capabilities", () => {
        for (const c of caps.ambient) sys.capAmbientRaise(c);
      });
    }
  }
}
