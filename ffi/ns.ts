/**
 * Namespaces: unshare, setns, hostname. Call these from the thread that will
 * spawn or exec into the namespaces (DESIGN.md): every symbol is synchronous.
 * @module
 */

import { libc } from "./libc.ts";
import { check } from "./check.ts";
import { cstr } from "./cstr.ts";

export const CLONE_FS = 0x00000200;
export const CLONE_NEWTIME = 0x00000080;
export const CLONE_NEWNS = 0x00020000;
export const CLONE_NEWCGROUP = 0x02000000;
export const CLONE_NEWUTS = 0x04000000;
export const CLONE_NEWIPC = 0x08000000;
export const CLONE_NEWUSER = 0x10000000;
export const CLONE_NEWPID = 0x20000000;
export const CLONE_NEWNET = 0x40000000;

/** OCI `linux.namespaces[].type` → clone flag and `/proc/<pid>/ns/<file>` name. */
export const NAMESPACES = {
  pid: { flag: CLONE_NEWPID, file: "pid" },
  network: { flag: CLONE_NEWNET, file: "net" },
  mount: { flag: CLONE_NEWNS, file: "mnt" },
  ipc: { flag: CLONE_NEWIPC, file: "ipc" },
  uts: { flag: CLONE_NEWUTS, file: "uts" },
  user: { flag: CLONE_NEWUSER, file: "user" },
  cgroup: { flag: CLONE_NEWCGROUP, file: "cgroup" },
  time: { flag: CLONE_NEWTIME, file: "time" },
} as const;

export type NamespaceType = keyof typeof NAMESPACES;

/** Readable names of the namespace bits in `flags`, for error messages. */
export function namespaceFlagNames(flags: number): string {
  const names = Object.entries(NAMESPACES).filter(([, v]) => (flags & v.flag) !== 0).map(([k]) =>
    k
  );
  if (flags & CLONE_FS) names.push("fs");
  return names.join("|") || "0";
}

export function unshare(flags: number): void {
  check(libc().unshare(flags), "unshare", [], namespaceFlagNames(flags));
}

/** Joins the namespace `fd` refers to; `nstype` 0 accepts any type. */
export function setns(fd: number, nstype: number, what?: string): void {
  check(libc().setns(fd, nstype), "setns", [], `${what ?? fd}, ${namespaceFlagNames(nstype)}`);
}

export function sethostname(name: string): void {
  const b = cstr(name);
  check(libc().sethostname(b, BigInt(b.length - 1)), "sethostname", [name]);
}
