/**
 * Container ids and names, as docker forms them.
 * @module
 */

import { PolisError } from "./errors.ts";

/** A random 64-hex id. */
export function newId(): string {
  const bytes = new Uint8Array(32);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function shortId(id: string): string {
  return id.slice(0, 12);
}

/** docker's container-name charset: [a-zA-Z0-9][a-zA-Z0-9_.-]+ */
export const NAME_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

export function validateName(name: string): string {
  const bare = name.startsWith("/") ? name.slice(1) : name;
  if (!NAME_PATTERN.test(bare)) {
    throw PolisError.invalid(
      `invalid container name "${name}": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`,
    );
  }
  return bare;
}

const ADJECTIVES = [
  "brave",
  "calm",
  "eager",
  "fancy",
  "gentle",
  "happy",
  "jolly",
  "keen",
  "lively",
  "merry",
  "nice",
  "proud",
  "quiet",
  "rapid",
  "sharp",
  "swift",
  "tidy",
  "vivid",
  "witty",
  "zesty",
];
const NOUNS = [
  "agnesi",
  "babbage",
  "curie",
  "darwin",
  "euler",
  "fermat",
  "gauss",
  "hopper",
  "kepler",
  "lovelace",
  "meitner",
  "newton",
  "noether",
  "pascal",
  "ritchie",
  "shannon",
  "thompson",
  "turing",
  "volta",
  "wozniak",
];

/** A generated name in docker's adjective_scientist style, with a random suffix. */
export function generateName(): string {
  const r = new Uint32Array(3);
  crypto.getRandomValues(r);
  return `${ADJECTIVES[r[0] % ADJECTIVES.length]}_${NOUNS[r[1] % NOUNS.length]}_${
    (r[2] % 0xffff).toString(16)
  }`;
}
