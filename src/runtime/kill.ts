/**
 * `kill`: send a signal to a container's process, through a pidfd so a reused pid can never
 * receive it.
 * @module
 */

import { PolisError } from "../core/mod.ts";
import { closeQuiet, isErrno, kill, pidfdOpen, pidfdSendSignal } from "../../ffi/mod.ts";
import { assertCanKill, load, procProbe, type RuntimeConfig, type StoredState } from "./state.ts";
import { parseSignal } from "./signals.ts";

/** Signals the stored pid if it still is the same process; false if it is gone. */
export function signalStored(st: StoredState, sig: number): boolean {
  let pidfd = -1;
  try {
    pidfd = pidfdOpen(st.pid);
  } catch (e) {
    if (isErrno(e, "ESRCH")) return false;
    if (!isErrno(e, "ENOSYS")) throw e;
  }
  try {
    // With a pidfd held the pid cannot be reused, so this check cannot go stale.
    if (procProbe.startTime(st.pid) !== st.startTime) return false;
    if (pidfd >= 0) pidfdSendSignal(pidfd, sig);
    else kill(st.pid, sig);
    return true;
  } catch (e) {
    if (isErrno(e, "ESRCH")) return false;
    throw e;
  } finally {
    closeQuiet(pidfd);
  }
}

export function killContainer(cfg: RuntimeConfig, id: string, signal: string | number): void {
  const sig = parseSignal(signal);
  const { stored, status } = load(cfg, id);
  assertCanKill(id, status);
  if (!signalStored(stored, sig)) {
    throw PolisError.precondition(`cannot kill container ${id}: it is stopped`);
  }
}
