/**
 * Structured logging: one JSON object per line on stderr, level from POLIS_LOG.
 * @module
 */

export type Level = "debug" | "info" | "warn" | "error";
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

function threshold(): number {
  const v = (Deno.env.get("POLIS_LOG") ?? "info") as Level;
  return ORDER[v] ?? ORDER.info;
}

let min = -1;

export function log(level: Level, msg: string, fields: Record<string, unknown> = {}): void {
  if (min < 0) min = threshold();
  if (ORDER[level] < min) return;
  const line = JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields });
  try {
    Deno.stderr.writeSync(new TextEncoder().encode(line + "\n"));
  } catch {
    // stderr may be closed in a detached daemon; logging must never throw.
  }
}

export const logger = {
  debug: (msg: string, f?: Record<string, unknown>) => log("debug", msg, f),
  info: (msg: string, f?: Record<string, unknown>) => log("info", msg, f),
  warn: (msg: string, f?: Record<string, unknown>) => log("warn", msg, f),
  error: (msg: string, f?: Record<string, unknown>) => log("error", msg, f),
};
