/**
 * Collects garbage in step with the bytes a pull moves. Every chunk of a download or an
 * unpack is a fresh ArrayBuffer that dies at once, but V8 only collects when their
 * external bytes pass its limit (tens of MiB), so a pull would grow the daemon by that
 * much in garbage. A minor GC every 8 MiB moved (a scavenge: these buffers die young),
 * at most every 100 ms (each costs some ms of the pull), keeps it to about that much. V8's gc function comes from the
 * `--expose-gc` flag set at run time and a fresh context, as Node allows; without it
 * (or when that fails) this does nothing.
 * @module
 */

import v8 from "node:v8";
import vm from "node:vm";

type GcFn = (opts?: { type?: "minor" | "major" }) => void;

/** Bytes moved between two collections. */
export const GC_EVERY_BYTES = 8 * 1024 * 1024;

let gcFn: GcFn | null | undefined;
let moved = 0;
let lastGc = -Infinity;

/** At most this often, whatever the rate: each collection costs a few ms of the pull. */
export const GC_MIN_INTERVAL_MS = 100;

function loadGc(): GcFn | null {
  try {
    v8.setFlagsFromString("--expose-gc");
    const fn = vm.runInNewContext("gc") as unknown;
    return typeof fn === "function" ? fn as GcFn : null;
  } catch {
    return null;
  }
}

/**
 * Opt-in (POLIS_GC_PACING=1): it lowers a pull's peak RSS (~145 → ~96 MiB measured) but
 * slows pulls by ~35%, and forcing collections in a process that also makes FFI calls is
 * not yet proven safe (a full-suite run hung once after it landed; cause not found).
 */
let enabled = (() => {
  try {
    return Deno.env.get("POLIS_GC_PACING") === "1";
  } catch {
    return false;
  }
})();

/** Turns pacing on or off (tests; embedders that prefer memory to pull speed). */
export function setGcPacing(on: boolean): void {
  enabled = on;
}

/** Counts `n` bytes moved; collects young garbage each time GC_EVERY_BYTES have passed. */
export function noteBytesMoved(n: number): void {
  if (!enabled) return;
  moved += n;
  if (moved < GC_EVERY_BYTES) return;
  const now = performance.now();
  if (now - lastGc < GC_MIN_INTERVAL_MS) return;
  lastGc = now;
  moved = 0;
  if (gcFn === undefined) gcFn = loadGc();
  gcFn?.({ type: "minor" });
}
