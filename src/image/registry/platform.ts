/**
 * Platforms as OCI indexes describe them (`linux/arm64/v8`): parsing of `--platform`,
 * the host's own, and the choice of one manifest from an index, with containerd's
 * compatibility rules (an arm64 host takes `v8` or no variant; an arm/v7 host also runs
 * v6 and v5 images, preferring the newest).
 * @module
 */

import { PolisError } from "../../core/errors.ts";

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

const ARCH_ALIASES: Record<string, Platform["architecture"]> = {
  x86_64: "amd64",
  "x86-64": "amd64",
  aarch64: "arm64",
  armhf: "arm",
  armel: "arm",
  i386: "386",
};

/** Normalises names (aarch64 → arm64, arm64 → variant v8, arm → v7) as containerd does. */
export function normalizePlatform(p: Platform): Platform {
  const os = p.os.toLowerCase();
  let architecture = p.architecture.toLowerCase();
  let variant = p.variant?.toLowerCase() || undefined;
  if (architecture === "armhf" && !variant) variant = "v7";
  if (architecture === "armel" && !variant) variant = "v6";
  architecture = ARCH_ALIASES[architecture] ?? architecture;
  if (architecture === "arm64" && (variant === undefined || variant === "8")) variant = "v8";
  if (architecture === "arm" && variant === undefined) variant = "v7";
  if (architecture === "arm" && variant && /^\d$/.test(variant)) variant = `v${variant}`;
  const out: Platform = { os, architecture };
  if (variant) out.variant = variant;
  return out;
}

/** Parses `os/arch[/variant]` (or a bare `arch`, meaning linux). */
export function parsePlatform(text: string): Platform {
  const parts = text.trim().split("/");
  const bad = () =>
    PolisError.invalid(
      `invalid platform "${text}": expected os/arch[/variant], e.g. linux/arm64/v8`,
    );
  if (parts.length > 3 || parts.some((p) => !/^[A-Za-z0-9_.-]+$/.test(p))) throw bad();
  if (parts.length === 1) return normalizePlatform({ os: "linux", architecture: parts[0] });
  return normalizePlatform({ os: parts[0], architecture: parts[1], variant: parts[2] });
}

export function formatPlatform(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter(Boolean).join("/");
}

/** The platform this process runs on. */
export function hostPlatform(arch: string = Deno.build.arch): Platform {
  return normalizePlatform({ os: "linux", architecture: arch });
}

/**
 * How well an image for `have` runs on `want`: 0 is an exact match, higher is a worse
 * but usable one, undefined is not usable.
 */
export function platformRank(want: Platform, have: Platform): number | undefined {
  const w = normalizePlatform(want);
  const h = normalizePlatform(have);
  if (w.os !== h.os || w.architecture !== h.architecture) return undefined;
  if (w.architecture === "arm") {
    const wv = Number(w.variant?.slice(1) ?? 7);
    const hv = Number(h.variant?.slice(1) ?? 7);
    return hv <= wv ? wv - hv : undefined;
  }
  if (w.variant === h.variant) return 0;
  // amd64 v2..v4 and the like: an unstated variant on either side is the baseline.
  if (w.variant === undefined || h.variant === undefined) return 1;
  return undefined;
}

/** The entry of an index that best fits `want`, or undefined. */
export function selectPlatform<T extends { platform?: Platform }>(
  entries: T[],
  want: Platform,
): T | undefined {
  let best: T | undefined;
  let bestRank = Infinity;
  for (const e of entries) {
    if (!e.platform?.os || !e.platform.architecture) continue;
    const r = platformRank(want, e.platform);
    if (r !== undefined && r < bestRank) {
      best = e;
      bestRank = r;
    }
  }
  return best;
}
