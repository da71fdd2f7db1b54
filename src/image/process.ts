/**
 * How an image's config and a run request combine into the container's
 * process (args, env, cwd, user), following docker's rules. Pure.
 *
 * @example
 * ```ts
 * resolveProcess({ Cmd: ["sh"], Env: ["PATH=/bin"] }, { cmd: ["echo", "hi"] });
 * // { args: ["echo", "hi"], env: ["PATH=/bin"], cwd: "/", user: "" }
 * ```
 * @module
 */

import { PolisError } from "../core/errors.ts";

/** The image config's "config" object (the fields Polis uses). */
export interface ImageConfig {
  Env?: string[];
  Cmd?: string[] | null;
  Entrypoint?: string[] | null;
  WorkingDir?: string;
  User?: string;
  ExposedPorts?: Record<string, unknown>;
  Labels?: Record<string, string> | null;
  StopSignal?: string;
  Volumes?: Record<string, unknown> | null;
}

export interface ProcessOverrides {
  /** Replaces the image's Cmd when non-empty (docker treats an empty list as "not given"). */
  cmd?: string[];
  /** Replaces the image's Entrypoint and drops the image's Cmd; [] or [""] clears it. */
  entrypoint?: string[];
  /** "K=V" set or replace; a bare "K" removes K. */
  env?: string[];
  workingDir?: string;
  user?: string;
}

export interface ResolvedProcess {
  args: string[];
  env: string[];
  cwd: string;
  user: string;
}

export const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

function envKey(entry: string): string {
  const eq = entry.indexOf("=");
  return eq < 0 ? entry : entry.slice(0, eq);
}

/** Overlays `overrides` on `base` by key, keeping first-seen order; a bare key unsets. */
export function mergeEnv(base: readonly string[], overrides: readonly string[]): string[] {
  const out = new Map<string, string>();
  for (const e of base) {
    if (e.includes("=")) out.set(envKey(e), e);
  }
  for (const e of overrides) {
    if (e.includes("=")) out.set(envKey(e), e);
    else out.delete(e);
  }
  return [...out.values()];
}

export function resolveProcess(image: ImageConfig, overrides: ProcessOverrides): ResolvedProcess {
  let entrypoint = image.Entrypoint ?? [];
  let cmd = image.Cmd ?? [];
  const userCmd = overrides.cmd ?? [];
  if (overrides.entrypoint !== undefined) {
    const cleared = overrides.entrypoint.length === 0 ||
      (overrides.entrypoint.length === 1 && overrides.entrypoint[0] === "");
    entrypoint = cleared ? [] : overrides.entrypoint;
    cmd = userCmd;
  } else if (userCmd.length > 0) {
    cmd = userCmd;
  }
  const args = [...entrypoint, ...cmd];
  if (args.length === 0) throw PolisError.invalid("no command specified");

  let env = mergeEnv(image.Env ?? [], overrides.env ?? []);
  if (!env.some((e) => envKey(e) === "PATH")) env = [`PATH=${DEFAULT_PATH}`, ...env];

  let cwd = "/";
  if (overrides.workingDir) {
    if (!overrides.workingDir.startsWith("/")) {
      throw PolisError.invalid(
        `the working directory "${overrides.workingDir}" is invalid: it needs to be an absolute path`,
      );
    }
    cwd = overrides.workingDir;
  } else if (image.WorkingDir) {
    // Builders sometimes record a relative WorkingDir; it is taken from the root.
    cwd = image.WorkingDir.startsWith("/") ? image.WorkingDir : `/${image.WorkingDir}`;
  }
  // An empty user in the request means "not given", as in docker's API.
  const user = overrides.user || image.User || "";
  return { args, env, cwd, user };
}
