/**
 * Image references as docker users write them: `busybox`, `busybox:1.36`,
 * `localhost:5000/team/app:v1`, `alpine@sha256:…`. Parsing normalises to a
 * registry domain, a repository path and a tag or digest; `familiarName` turns
 * a normalised reference back into the short form docker prints.
 *
 * @example
 * ```ts
 * parseReference("busybox"); // { domain: "docker.io", path: "library/busybox", tag: "latest" }
 * familiarName("docker.io/library/busybox:latest"); // "busybox:latest"
 * ```
 * @module
 */

import { PolisError } from "../core/errors.ts";

export interface ParsedReference {
  domain: string;
  path: string;
  tag?: string;
  digest?: string;
}

export const DEFAULT_DOMAIN = "docker.io";
export const DEFAULT_TAG = "latest";

const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const DOMAIN = new RegExp(
  `^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?$`,
);
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/;
const SHA256_DIGEST = /^sha256:[a-f0-9]{64}$/;
const HEX64 = /^[a-f0-9]{64}$/;
const MAX_NAME_LENGTH = 255;

function invalid(ref: string, why: string): PolisError {
  return PolisError.invalid(`invalid reference format "${ref}": ${why}`);
}

/** Parses a reference by docker's rules; throws invalid_argument naming the problem. */
export function parseReference(ref: string): ParsedReference {
  if (ref === "") throw invalid(ref, "empty reference");
  if (/\s/.test(ref)) throw invalid(ref, "contains whitespace");

  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw invalid(ref, `malformed digest "${digest}"`);
    if (digest.startsWith("sha256:") && !SHA256_DIGEST.test(digest)) {
      throw invalid(ref, "a sha256 digest must be 64 lowercase hex characters");
    }
  }

  let tag: string | undefined;
  const colon = rest.lastIndexOf(":");
  if (colon > rest.lastIndexOf("/")) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) {
      throw invalid(ref, `malformed tag "${tag}" (allowed: [A-Za-z0-9_.-], at most 128)`);
    }
  }
  if (rest === "") throw invalid(ref, "repository name must have at least one component");

  let domain = DEFAULT_DOMAIN;
  let path = rest;
  const slash = rest.indexOf("/");
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    // docker's rule: the first component is a registry host when it looks like one.
    if (/[.:]/.test(first) || first === "localhost" || first !== first.toLowerCase()) {
      domain = first;
      path = rest.slice(slash + 1);
    }
  }
  if (!DOMAIN.test(domain)) throw invalid(ref, `malformed registry host "${domain}"`);
  if (domain === "index.docker.io") domain = DEFAULT_DOMAIN;
  if (domain === DEFAULT_DOMAIN && !path.includes("/")) path = `library/${path}`;
  if (slash < 0 && HEX64.test(path.replace(/^library\//, ""))) {
    throw invalid(ref, "cannot use a 64-character hex string as a repository name");
  }

  for (const component of path.split("/")) {
    if (PATH_COMPONENT.test(component)) continue;
    if (PATH_COMPONENT.test(component.toLowerCase())) {
      throw invalid(ref, `repository name "${path}" must be lowercase`);
    }
    throw invalid(
      ref,
      component === ""
        ? "empty path component"
        : `malformed repository name component "${component}" (allowed: [a-z0-9] separated by ".", "_", "__" or "-")`,
    );
  }
  if (domain.length + 1 + path.length > MAX_NAME_LENGTH) {
    throw invalid(ref, `repository name longer than ${MAX_NAME_LENGTH} characters`);
  }
  if (tag === undefined && digest === undefined) tag = DEFAULT_TAG;
  const out: ParsedReference = { domain, path };
  if (tag !== undefined) out.tag = tag;
  if (digest !== undefined) out.digest = digest;
  return out;
}

/** "docker.io/library/busybox" style: the repository without tag or digest. */
export function repositoryName(ref: ParsedReference): string {
  return `${ref.domain}/${ref.path}`;
}

/** The fully qualified form used as a storage key: "docker.io/library/busybox:latest". */
export function canonicalName(ref: string | ParsedReference): string {
  const r = typeof ref === "string" ? parseReference(ref) : ref;
  return repositoryName(r) + (r.tag !== undefined ? `:${r.tag}` : "") +
    (r.digest !== undefined ? `@${r.digest}` : "");
}

/** The short form docker prints: "busybox:latest", "localhost:5000/x:1", "user/app:v2". */
export function familiarName(ref: string | ParsedReference): string {
  const r = typeof ref === "string" ? parseReference(ref) : ref;
  let name = repositoryName(r);
  if (r.domain === DEFAULT_DOMAIN) {
    name = r.path.startsWith("library/") && r.path.split("/").length === 2
      ? r.path.slice("library/".length)
      : r.path;
  }
  return name + (r.tag !== undefined ? `:${r.tag}` : "") +
    (r.digest !== undefined ? `@${r.digest}` : "");
}
