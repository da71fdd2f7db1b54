/**
 * What the container's init touches, bundled so tests can hand it fakes: the kernel
 * (`Syscalls`), read-only path questions (`FsView`) and the few file writes it makes.
 * All synchronous: the init must not use pool threads (DESIGN.md).
 * @module
 */

import { realSyscalls, type Syscalls } from "../../ffi/mod.ts";
import { PolisError } from "../core/mod.ts";
import { type FsView, realFs } from "./fsview.ts";
import { codeOf } from "./protocol.ts";

export interface FileOps {
  mkdirAll(path: string, mode?: number): void;
  /** Creates an empty file if nothing exists at `path`. */
  touch(path: string): void;
  writeFile(path: string, text: string): void;
  readFile(path: string): string;
  chmod(path: string, mode: number): void;
  chown(path: string, uid: number, gid: number): void;
}

export const realFiles: FileOps = {
  mkdirAll: (p, mode = 0o755) => Deno.mkdirSync(p, { recursive: true, mode }),
  touch: (p) => {
    try {
      Deno.lstatSync(p);
    } catch {
      Deno.writeFileSync(p, new Uint8Array(), { mode: 0o644 });
    }
  },
  writeFile: (p, text) => Deno.writeTextFileSync(p, text),
  readFile: (p) => Deno.readTextFileSync(p),
  chmod: (p, mode) => Deno.chmodSync(p, mode),
  chown: (p, uid, gid) => Deno.chownSync(p, uid, gid),
};

export interface InitEnv {
  sys: Syscalls;
  fs: FsView;
  files: FileOps;
}

export const realEnv: InitEnv = { sys: realSyscalls, fs: realFs, files: realFiles };

/** Runs `fn`, prefixing any failure with what was being done (keeping its category). */
export function step<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    throw new PolisError(codeOf(e), `${what}: ${msg}`, { cause: e });
  }
}
