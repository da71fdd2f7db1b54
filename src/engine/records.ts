/**
 * Container rows: what the engine persists about each container.
 * @module
 */

import type { DatabaseSync } from "node:sqlite";
import { PolisError } from "../core/mod.ts";
import type { ContainerCreateSpec, ContainerStatus } from "./types.ts";
import type { NetworkMode } from "./spec.ts";

/** Settings fixed at create time. */
export interface ContainerConfig {
  spec: ContainerCreateSpec;
  imageRef: string;
  args: string[];
  env: string[];
  cwd: string;
  user: string;
  hostname: string;
  networkMode: NetworkMode;
  stopSignal?: string;
  cgroupsPath: string;
  entrypoint: string[] | null;
  cmd: string[] | null;
}

/** What changes over the container's life. */
export interface ContainerState {
  status: ContainerStatus;
  pid: number;
  exitCode: number;
  oomKilled: boolean;
  startedAt: string;
  finishedAt: string;
  error: string;
  restartCount: number;
  /** The signal the engine sent last, so an exit observed without a status (after a restart) is attributed. */
  lastSignal?: number;
}

export interface ContainerRecord {
  id: string;
  name: string;
  imageId: string;
  created: string;
  config: ContainerConfig;
  state: ContainerState;
}

export const ZERO_TIME = "0001-01-01T00:00:00Z";

export function initialState(): ContainerState {
  return {
    status: "created",
    pid: 0,
    exitCode: 0,
    oomKilled: false,
    startedAt: ZERO_TIME,
    finishedAt: ZERO_TIME,
    error: "",
    restartCount: 0,
  };
}

interface Row {
  id: string;
  name: string;
  image_id: string;
  created: string;
  config: string;
  state: string;
}

function fromRow(r: Row): ContainerRecord {
  return {
    id: r.id,
    name: r.name,
    imageId: r.image_id,
    created: r.created,
    config: JSON.parse(r.config),
    state: JSON.parse(r.state),
  };
}

export class ContainerRecords {
  constructor(private db: DatabaseSync) {}

  insert(rec: ContainerRecord): void {
    try {
      this.db.prepare(
        "INSERT INTO containers (id, name, image_id, created, config, state) VALUES (?, ?, ?, ?, ?, ?)",
      ).run(
        rec.id,
        rec.name,
        rec.imageId,
        rec.created,
        JSON.stringify(rec.config),
        JSON.stringify(rec.state),
      );
    } catch (e) {
      if (String(e).includes("UNIQUE")) {
        throw PolisError.conflict(
          `the container name "/${rec.name}" is already in use by another container`,
        );
      }
      throw e;
    }
  }

  updateState(id: string, state: ContainerState): void {
    this.db.prepare("UPDATE containers SET state = ? WHERE id = ?").run(
      JSON.stringify(state),
      id,
    );
  }

  delete(id: string): void {
    this.db.prepare("DELETE FROM containers WHERE id = ?").run(id);
  }

  all(): ContainerRecord[] {
    return (this.db.prepare("SELECT * FROM containers ORDER BY created DESC")
      .all() as unknown as Row[])
      .map(fromRow);
  }

  get(id: string): ContainerRecord | undefined {
    const r = this.db.prepare("SELECT * FROM containers WHERE id = ?").get(id) as unknown as
      | Row
      | undefined;
    return r ? fromRow(r) : undefined;
  }

  nameExists(name: string): boolean {
    return this.db.prepare("SELECT 1 FROM containers WHERE name = ?").get(name) !== undefined;
  }

  usesImage(imageId: string): string | undefined {
    const r = this.db.prepare("SELECT id FROM containers WHERE image_id = ? LIMIT 1").get(
      imageId,
    ) as { id: string } | undefined;
    return r?.id;
  }

  /** Finds by full id, exact name, or unique id prefix, as docker does. */
  resolve(ref: string): ContainerRecord {
    const key = ref.startsWith("/") ? ref.slice(1) : ref;
    const byId = this.get(key);
    if (byId) return byId;
    const byName = this.db.prepare("SELECT * FROM containers WHERE name = ?").get(key) as unknown as
      | Row
      | undefined;
    if (byName) return fromRow(byName);
    if (/^[0-9a-f]+$/.test(key)) {
      const rows = this.db.prepare("SELECT * FROM containers WHERE id LIKE ? LIMIT 2").all(
        `${key}%`,
      ) as unknown as Row[];
      if (rows.length === 1) return fromRow(rows[0]);
      if (rows.length > 1) {
        throw PolisError.invalid(`multiple containers match the prefix "${key}": be more specific`);
      }
    }
    throw PolisError.notFound(`No such container: ${ref}`);
  }
}
