/**
 * `delete`: remove a container's cgroup and state. A running container needs `force`, which
 * SIGKILLs it first and waits until it is gone. The rootfs mount belongs to the caller.
 * @module
 */

import { attachCleanupError, PolisError, removeIfExistsSync } from "../core/mod.ts";
import { openCgroup } from "../security/mod.ts";
import {
  assertCanDelete,
  load,
  procProbe,
  type RuntimeConfig,
  STATE_FILE,
  stateDirOf,
} from "./state.ts";
import { signalStored } from "./kill.ts";
import { existsSync } from "../core/mod.ts";

const KILL_WAIT_MS = 10_000;

async function waitGone(pid: number, startTime: number): Promise<boolean> {
  const deadline = Date.now() + KILL_WAIT_MS;
  while (Date.now() < deadline) {
    if (procProbe.startTime(pid) !== startTime) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return false;
}

export interface DeleteOptions {
  force?: boolean;
  /**
   * Takes the state dir away instead of removing it here (a daemon moves it into its trash
   * and deletes it in the background); it must be gone from its path on return.
   */
  discard?: (dir: string) => void;
}

export async function deleteContainer(
  cfg: RuntimeConfig,
  id: string,
  opts: DeleteOptions = {},
): Promise<void> {
  const dir = stateDirOf(cfg, id);
  if (existsSync(dir) && !existsSync(`${dir}/${STATE_FILE}`)) {
    // A create that died before its first state write: nothing else was made yet.
    removeIfExistsSync(dir, true);
    return;
  }
  const { stored, status } = load(cfg, id);
  assertCanDelete(id, status, opts.force ?? false);
  if ((status === "created" || status === "running") && signalStored(stored, 9)) {
    if (!(await waitGone(stored.pid, stored.startTime))) {
      throw new PolisError("unavailable", `container ${id} (pid ${stored.pid}) survived SIGKILL`);
    }
  }
  let err: unknown;
  try {
    await openCgroup(stored.cgroupsPath).destroy();
  } catch (e) {
    if (!(e instanceof PolisError && e.code === "not_found")) err = e;
  }
  const left = (stored.cgroupDirs ?? []).filter((d) => existsSync(d));
  if (err === undefined && left.length > 0) {
    // Keep the state so the delete can be retried from the right place.
    throw PolisError.precondition(
      `cannot delete container ${id}: its cgroup ${left.join(", ")} is not where ` +
        `"${stored.cgroupsPath}" resolves from this process's cgroup; delete it from the ` +
        `process (cgroup) that created it`,
    );
  }
  try {
    if (opts.discard) opts.discard(dir);
    else removeIfExistsSync(dir, true);
  } catch (e) {
    if (err === undefined) err = e;
    else attachCleanupError(err, e);
  }
  if (err !== undefined) throw err;
}
