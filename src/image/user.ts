/**
 * Turns a container's `user` string ("", "name", "uid", "name:group",
 * "uid:gid") into numeric ids by reading the rootfs's /etc/passwd and
 * /etc/group, as docker and runc do. The files are read with symlinks resolved
 * inside the rootfs, never on the host.
 * @module
 */

import { PolisError } from "../core/errors.ts";
import { readTextInRoot } from "./rootpath.ts";

export interface ResolvedUser {
  uid: number;
  gid: number;
  additionalGids: number[];
  /** The passwd entry's home directory, "/" when there is none. */
  home: string;
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

const MAX_ID = 2 ** 31 - 1;

function parseId(s: string): number | undefined {
  if (!/^\d+$/.test(s)) return undefined;
  const n = Number(s);
  return n <= MAX_ID ? n : undefined;
}

function lines(text: string | undefined): string[][] {
  if (text === undefined) return [];
  return text.split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"))
    .map((l) => l.split(":"));
}

export function parsePasswd(text: string | undefined): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const f of lines(text)) {
    const uid = parseId(f[2] ?? "");
    const gid = parseId(f[3] ?? "");
    if (f[0] && uid !== undefined && gid !== undefined) {
      out.push({ name: f[0], uid, gid, home: f[5] || "/" });
    }
  }
  return out;
}

export function parseGroup(text: string | undefined): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const f of lines(text)) {
    const gid = parseId(f[2] ?? "");
    if (f[0] && gid !== undefined) {
      out.push({ name: f[0], gid, members: (f[3] ?? "").split(",").filter(Boolean) });
    }
  }
  return out;
}

/** Resolves `user` against already-read passwd/group contents. Pure. */
export function resolveUserFrom(
  user: string,
  passwdText: string | undefined,
  groupText: string | undefined,
): ResolvedUser {
  const colon = user.indexOf(":");
  const userPart = colon < 0 ? user : user.slice(0, colon);
  const groupPart = colon < 0 ? "" : user.slice(colon + 1);
  const passwd = parsePasswd(passwdText);

  // No user means uid 0, still looked up so root gets its /etc/group memberships.
  const numeric = userPart === "" ? 0 : parseId(userPart);
  const entry = numeric !== undefined
    ? passwd.find((p) => p.uid === numeric)
    : passwd.find((p) => p.name === userPart);
  let uid = 0;
  let gid = 0;
  let home = "/";
  if (entry) {
    ({ uid, gid, home } = entry);
  } else if (numeric !== undefined) {
    uid = numeric; // a uid with no passwd entry runs with gid 0, as in docker
  } else {
    throw PolisError.invalid(`unable to find user ${userPart}: no matching entries in passwd file`);
  }

  const groups = parseGroup(groupText);
  let additionalGids: number[] = [];
  if (groupPart !== "") {
    const numericGid = parseId(groupPart);
    if (numericGid !== undefined) {
      gid = numericGid;
    } else {
      const g = groups.find((x) => x.name === groupPart);
      if (!g) {
        throw PolisError.invalid(
          `unable to find group ${groupPart}: no matching entries in group file`,
        );
      }
      gid = g.gid;
    }
  } else if (entry) {
    // Supplementary groups come from /etc/group only when no group was named.
    additionalGids = [
      ...new Set(groups.filter((g) => g.members.includes(entry.name)).map((g) => g.gid)),
    ];
  }
  return { uid, gid, additionalGids, home };
}

/** Resolves `user` against the rootfs at `rootfs` (its /etc/passwd and /etc/group). */
export function resolveUser(rootfs: string, user: string): ResolvedUser {
  return resolveUserFrom(
    user,
    readTextInRoot(rootfs, "/etc/passwd"),
    readTextInRoot(rootfs, "/etc/group"),
  );
}
