/**
 * Pure parsers for user-facing quantities: memory sizes and CPU counts.
 * @module
 */

import { PolisError } from "./errors.ts";

const MEMORY_UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1024,
  kb: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1024 ** 4,
};

/** Parses docker's memory syntax ("32m", "1g", "1048576") into bytes. */
export function parseMemory(value: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-zA-Z]*)$/.exec(value.trim());
  const unit = m ? MEMORY_UNITS[m[2].toLowerCase()] : undefined;
  if (!m || unit === undefined) {
    throw PolisError.invalid(`invalid memory size "${value}": use a number with b, k, m or g`);
  }
  const bytes = Math.floor(Number(m[1]) * unit);
  if (!Number.isSafeInteger(bytes) || bytes <= 0) {
    throw PolisError.invalid(`invalid memory size "${value}": must be positive`);
  }
  return bytes;
}

/** Parses docker's --cpus ("0.5", "2") into nano-CPUs. */
export function parseCpus(value: string): number {
  if (!/^\d+(\.\d+)?$/.test(value.trim())) {
    throw PolisError.invalid(`invalid cpus value "${value}": use a positive number such as 0.5`);
  }
  const n = Number(value);
  if (!(n > 0) || n > 1024) {
    throw PolisError.invalid(`invalid cpus value "${value}": must be between 0 and 1024`);
  }
  return Math.round(n * 1e9);
}

export function formatBytes(n: number): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 2 : 1)}${units[i]}`;
}
