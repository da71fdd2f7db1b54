/**
 * Finds the executable for `process.args[0]` the way a shell does, inside the container's
 * root. The error texts are docker's, and the codes let the engine pick exit codes 127
 * (not_found) and 126 (failed_precondition, "permission denied").
 * @module
 */

import { PolisError } from "../core/mod.ts";
import { type FsView, realFs } from "./fsview.ts";

export const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** PATH from an env list ("KEY=value"); the default when absent. */
export function pathFromEnv(env: readonly string[]): string {
  let path: string | undefined;
  for (const kv of env) if (kv.startsWith("PATH=")) path = kv.slice(5);
  return path ?? DEFAULT_PATH;
}

function executable(fs: FsView, p: string): "ok" | "missing" | "denied" {
  const st = fs.stat(p);
  if (!st) return "missing";
  if (st.isDirectory || !st.isFile || (st.mode & 0o111) === 0) return "denied";
  return "ok";
}

/** Lexical normalisation: drops "." and empty components, applies "..". */
export function normalizePath(p: string): string {
  const out: string[] = [];
  for (const c of p.split("/")) {
    if (c === "" || c === ".") continue;
    if (c === "..") out.pop();
    else out.push(c);
  }
  return "/" + out.join("/");
}

function joinPath(dir: string, file: string): string {
  if (dir === "") dir = ".";
  return dir.endsWith("/") ? dir + file : `${dir}/${file}`;
}

/**
 * The path to exec for `file`. A name with a slash is used as given (relative to `cwd`);
 * otherwise each PATH entry is tried in order.
 */
export function lookPath(file: string, pathEnv: string, cwd = "/", fs: FsView = realFs): string {
  if (file === "") {
    throw new PolisError("not_found", `exec: "": executable file not found in $PATH`);
  }
  const abs = (p: string) => normalizePath(p.startsWith("/") ? p : joinPath(cwd, p));
  if (file.includes("/")) {
    const r = executable(fs, abs(file));
    if (r === "ok") return file;
    if (r === "missing") {
      throw new PolisError(
        "not_found",
        `exec: "${file}": stat ${file}: no such file or directory`,
      );
    }
    throw PolisError.precondition(`exec: "${file}": permission denied`);
  }
  let denied = false;
  for (const dir of pathEnv.split(":")) {
    const candidate = joinPath(dir, file);
    const r = executable(fs, abs(candidate));
    if (r === "ok") return candidate;
    if (r === "denied") denied = true;
  }
  if (denied) throw PolisError.precondition(`exec: "${file}": permission denied`);
  throw new PolisError("not_found", `exec: "${file}": executable file not found in $PATH`);
}
