/**
 * The image config blob: parsing and checking what Polis relies on, and the
 * chain ids that key unpacked layers.
 * @module
 */

import { PolisError } from "../core/errors.ts";
import { sha256Hex } from "./content.ts";
import type { ImageConfig } from "./process.ts";

const ZERO_TIME = "0001-01-01T00:00:00Z";

export interface ParsedConfig {
  /** The blob, verbatim. */
  text: string;
  created: string;
  architecture: string;
  os: string;
  variant?: string;
  config: ImageConfig;
  diffIds: string[];
}

/** Docker's chain ids: chain[0] = diff[0]; chain[n] = sha256(chain[n-1] + " " + diff[n]). */
export function chainIds(diffIds: readonly string[]): string[] {
  const out: string[] = [];
  for (const d of diffIds) {
    out.push(out.length === 0 ? d : `sha256:${sha256Hex(`${out[out.length - 1]} ${d}`)}`);
  }
  return out;
}

/** Parses and checks an image config blob. */
export function parseImageConfig(text: string, id: string): ParsedConfig {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw PolisError.invalid(`image config ${id} is not valid JSON: ${(e as Error).message}`);
  }
  const d = doc as Record<string, unknown>;
  const rootfs = d?.rootfs as Record<string, unknown> | undefined;
  const diffIds = rootfs?.diff_ids;
  if (
    typeof d !== "object" || d === null || !rootfs || rootfs.type !== "layers" ||
    !Array.isArray(diffIds) ||
    diffIds.some((x) => typeof x !== "string" || !/^sha256:[a-f0-9]{64}$/.test(x))
  ) {
    throw PolisError.invalid(`image config ${id} has no valid rootfs.diff_ids`);
  }
  const config = (typeof d.config === "object" && d.config !== null ? d.config : {}) as ImageConfig;
  return {
    text,
    created: typeof d.created === "string" ? d.created : ZERO_TIME,
    architecture: typeof d.architecture === "string" ? d.architecture : "",
    os: typeof d.os === "string" ? d.os : "",
    variant: typeof d.variant === "string" ? d.variant : undefined,
    config,
    diffIds: diffIds as string[],
  };
}
