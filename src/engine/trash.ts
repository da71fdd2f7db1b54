/**
 * Deletion off the request path: a directory is renamed into a trash directory on the same
 * filesystem (one cheap, atomic step) and removed there by async file ops, which run on the
 * runtime's pool threads instead of blocking the event loop. Removing a container's files
 * synchronously took 10-50 ms of unlinks on a busy disk, during which no other request (the
 * next `run`) was served. Whatever a crash leaves in the trash is removed at the next open.
 * @module
 */

import { logger } from "../core/mod.ts";

export class Trash {
  readonly #pending = new Set<Promise<void>>();
  #n = 0;

  /** `dir` holds the trash; it must be on the filesystem of whatever is discarded into it. */
  constructor(readonly dir: string) {
    Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
    for (const e of Deno.readDirSync(dir)) this.#remove(`${dir}/${e.name}`);
  }

  /** Moves `path` out of the way at once and removes it in the background; missing is fine. */
  discard(path: string): void {
    const name = path.slice(path.lastIndexOf("/") + 1);
    const target = `${this.dir}/${name}.${Date.now().toString(36)}.${this.#n++}`;
    try {
      Deno.renameSync(path, target);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return;
      throw e;
    }
    this.#remove(target);
  }

  #remove(path: string): void {
    const p = Deno.remove(path, { recursive: true }).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) {
        logger.warn("remove discarded files", { path, error: String(e) });
      }
    }).finally(() => this.#pending.delete(p));
    this.#pending.add(p);
  }

  /** Resolves once everything discarded so far is gone. */
  async drain(): Promise<void> {
    while (this.#pending.size) await Promise.all(this.#pending);
  }
}
