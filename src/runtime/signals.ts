/**
 * Signal arguments as users write them ("TERM", "SIGKILL", "9", 15) → numbers.
 * @module
 */

import { PolisError } from "../core/mod.ts";
import { signalNumber } from "../../ffi/mod.ts";

/** Parses a signal name or number; invalid_argument if it is not a signal. */
export function parseSignal(s: string | number): number {
  const n = signalNumber(s);
  if (n === undefined) {
    throw PolisError.invalid(
      `invalid signal ${JSON.stringify(String(s))}: use a name such as TERM or KILL, or 1-64`,
    );
  }
  return n;
}
