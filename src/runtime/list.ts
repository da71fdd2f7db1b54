/**
 * `state` and `list`: the OCI state of one or all containers.
 * @module
 */

import { load, type OciState, type RuntimeConfig, toOciState } from "./state.ts";

/** The OCI state of `id`; not_found if it does not exist. */
export function containerState(cfg: RuntimeConfig, id: string): OciState {
  const { stored, status } = load(cfg, id);
  return toOciState(stored, status);
}

export function listContainers(cfg: RuntimeConfig): OciState[] {
  const out: OciState[] = [];
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(cfg.stateRoot)];
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
  for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    if (!e.isDirectory) continue;
    try {
      out.push(containerState(cfg, e.name));
    } catch {
      // a state dir being created or removed right now
    }
  }
  return out;
}
