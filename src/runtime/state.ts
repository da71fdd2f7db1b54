/**
 * Container state on disk and the lifecycle state machine. Each container has a directory
 * `<stateRoot>/<id>/` holding `state.json` (written atomically), the exec FIFO while it is
 * created-but-not-started, and the init plan. The status is never stored: it is derived from
 * the recorded pid, that pid's start time (so a reused pid is not mistaken for ours) and the
 * FIFO, and every verb checks it before acting.
 * @module
 */

import { existsSync, PolisError, writeFileAtomicSync } from "../core/mod.ts";

export const OCI_VERSION = "1.2.0";

export type Status = "creating" | "created" | "running" | "stopped";

/** The OCI state, as `state` prints it (plus runc's rootfs/created/owner). */
export interface OciState {
  ociVersion: string;
  id: string;
  status: Status;
  pid?: number;
  bundle: string;
  rootfs: string;
  created: string;
  owner: string;
  annotations?: Record<string, string>;
}

/** What is written to state.json. */
export interface StoredState {
  ociVersion: string;
  id: string;
  /** 0 until the init reported success. */
  pid: number;
  bundle: string;
  rootfs: string;
  annotations?: Record<string, string>;
  created: string;
  /** The pid's start time (clock ticks since boot, /proc/<pid>/stat field 22). */
  startTime: number;
  cgroupsPath: string;
  /**
   * The container's cgroup directories as created. A relative cgroupsPath resolves below the
   * caller's own cgroup, so another process may resolve it elsewhere; delete checks these.
   */
  cgroupDirs?: string[];
  started: boolean;
  /** The process running create(), so an interrupted create reads as stopped. */
  creator?: { pid: number; startTime: number };
}

export interface RuntimeConfig {
  /** Directory holding one state directory per container, e.g. /run/polis/runtime. */
  stateRoot: string;
  /**
   * Keep one loaded setup Worker ready for the next create: about 20 ms less per create, for
   * about 17 MiB resident while it waits. For a daemon only: a live Worker keeps the process
   * running until `dropSpareWorker()` or `Deno.exit`.
   */
  spareSetupWorker?: boolean;
}

export function stateDirOf(cfg: RuntimeConfig, id: string): string {
  return `${cfg.stateRoot}/${id}`;
}

export const STATE_FILE = "state.json";
export const EXEC_FIFO = "exec.fifo";
export const PLAN_FILE = "init.json";
export const RESULT_FILE = "setup-result.json";

/** The state of process `pid` as far as liveness goes. */
export interface ProcessProbe {
  /** Start time of a live (non-zombie) process, or null if it is gone or a zombie. */
  startTime(pid: number): number | null;
}

/** Parses /proc/<pid>/stat: [state letter, start time]. */
export function parseProcStat(text: string): { state: string; startTime: number } {
  const rest = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return { state: rest[0], startTime: Number(rest[19]) };
}

export const procProbe: ProcessProbe = {
  startTime(pid: number): number | null {
    if (!(pid > 0)) return null;
    try {
      const { state, startTime } = parseProcStat(Deno.readTextFileSync(`/proc/${pid}/stat`));
      return state === "Z" || state === "X" ? null : startTime;
    } catch {
      return null;
    }
  },
};

export function deriveStatus(st: StoredState, fifoExists: boolean, probe: ProcessProbe): Status {
  if (st.pid === 0) {
    const c = st.creator;
    return c && probe.startTime(c.pid) === c.startTime ? "creating" : "stopped";
  }
  if (probe.startTime(st.pid) !== st.startTime) return "stopped";
  return fifoExists && !st.started ? "created" : "running";
}

export function toOciState(st: StoredState, status: Status): OciState {
  return {
    ociVersion: st.ociVersion,
    id: st.id,
    status,
    ...(status === "created" || status === "running" ? { pid: st.pid } : { pid: 0 }),
    bundle: st.bundle,
    rootfs: st.rootfs,
    created: st.created,
    owner: "",
    annotations: st.annotations ?? {},
  };
}

export function readStored(cfg: RuntimeConfig, id: string): StoredState {
  const path = `${stateDirOf(cfg, id)}/${STATE_FILE}`;
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) {
      throw PolisError.notFound(`container ${id} does not exist`);
    }
    throw e;
  }
  try {
    return JSON.parse(text) as StoredState;
  } catch {
    throw PolisError.internal(`state of container ${id} is corrupt (${path})`);
  }
}

export function writeStored(cfg: RuntimeConfig, st: StoredState): void {
  // Meaningless after a power cut (the container is gone): atomic, not durable.
  writeFileAtomicSync(`${stateDirOf(cfg, st.id)}/${STATE_FILE}`, JSON.stringify(st), 0o600, {
    durable: false,
  });
}

/** A container's stored and derived state together. */
export interface Loaded {
  stored: StoredState;
  status: Status;
}

export function load(cfg: RuntimeConfig, id: string, probe: ProcessProbe = procProbe): Loaded {
  const stored = readStored(cfg, id);
  const fifo = existsSync(`${stateDirOf(cfg, id)}/${EXEC_FIFO}`);
  return { stored, status: deriveStatus(stored, fifo, probe) };
}

// The state machine: which verb is allowed in which status.

export function assertCanStart(id: string, status: Status): void {
  if (status !== "created") {
    throw PolisError.precondition(`cannot start container ${id}: it is ${status}, not created`);
  }
}

export function assertCanKill(id: string, status: Status): void {
  if (status !== "created" && status !== "running") {
    throw PolisError.precondition(`cannot kill container ${id}: it is ${status}`);
  }
}

/**
 * A stopped container can always be deleted; a created one too (its workload never ran,
 * as runc allows); a running or creating one only with force.
 */
export function assertCanDelete(id: string, status: Status, force: boolean): void {
  if (force || status === "stopped" || status === "created") return;
  throw PolisError.precondition(
    `cannot delete container ${id}: it is ${status}; stop it first or use force`,
  );
}
