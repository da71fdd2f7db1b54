/**
 * docker rmi's rules as a pure decision: which names to drop and whether the
 * image itself goes. A name with other names left is only untagged; the last
 * name, or an id, deletes the image. An image a container uses is refused
 * (conflict) unless forced, and forcing then only untags, as docker does.
 * @module
 */

import { PolisError } from "../core/errors.ts";
import type { NameKind } from "./db.ts";

export interface RemovalInput {
  /** What the user typed. */
  ref: string;
  imageId: string;
  /** Every name (canonical) that points at the image. */
  names: { name: string; kind: NameKind }[];
  /** The canonical name `ref` matched, when it was a name rather than an id. */
  refName?: string;
  /** A container using the image, if any. */
  usedBy?: string;
  force: boolean;
}

export interface RemovalPlan {
  /** Canonical names to drop. */
  untag: string[];
  deleteImage: boolean;
}

export function planRemoval(i: RemovalInput): RemovalPlan {
  const short = i.imageId.replace(/^sha256:/, "").slice(0, 12);
  const user = i.usedBy?.slice(0, 12);
  const all = i.names.map((n) => n.name);
  if (i.refName !== undefined) {
    if (i.names.length > 1) return { untag: [i.refName], deleteImage: false };
    if (user !== undefined) {
      if (!i.force) {
        throw PolisError.conflict(
          `unable to remove repository reference "${i.ref}" (must force) - container ${user} is using its referenced image ${short}`,
        );
      }
      return { untag: [i.refName], deleteImage: false };
    }
    return { untag: all, deleteImage: true };
  }
  if (user !== undefined && !i.force) {
    throw PolisError.conflict(
      `unable to delete ${short} (must be forced) - image is being used by container ${user}`,
    );
  }
  if (i.names.filter((n) => n.kind === "tag").length > 1 && !i.force) {
    throw PolisError.conflict(
      `unable to delete ${short} (must be forced) - image is referenced in multiple repositories`,
    );
  }
  return { untag: all, deleteImage: user === undefined };
}
