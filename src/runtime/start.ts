/**
 * `start`: release a created container's init by writing one byte into its exec FIFO.
 * @module
 */

import { PolisError, removeIfExistsSync } from "../core/mod.ts";
import { close, isErrno, O_CLOEXEC, O_NONBLOCK, O_WRONLY, open, writeAll } from "../../ffi/mod.ts";
import {
  assertCanStart,
  EXEC_FIFO,
  load,
  type RuntimeConfig,
  stateDirOf,
  writeStored,
} from "./state.ts";

export function startContainer(cfg: RuntimeConfig, id: string): Promise<void> {
  const { stored, status } = load(cfg, id);
  assertCanStart(id, status);
  const fifo = `${stateDirOf(cfg, id)}/${EXEC_FIFO}`;
  let fd: number;
  try {
    fd = open(fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
  } catch (e) {
    if (isErrno(e, "ENXIO")) {
      throw PolisError.precondition(`cannot start container ${id}: its init is gone`);
    }
    throw e;
  }
  try {
    writeAll(fd, new Uint8Array([0]));
  } finally {
    close(fd);
  }
  writeStored(cfg, { ...stored, started: true });
  removeIfExistsSync(fifo);
  return Promise.resolve();
}
