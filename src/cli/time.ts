/**
 * Parses the times `logs --since/--until` accept: RFC 3339 dates, unix seconds
 * (fractional allowed) and Go-style durations before now ("10m", "1h30m", "1.5h").
 * @module
 */

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  "µs": 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** A Go duration ("1h30m", "500ms") in milliseconds, or undefined when `s` is not one. */
export function parseDuration(s: string): number | undefined {
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/y;
  let total = 0;
  let pos = 0;
  while (pos < s.length) {
    re.lastIndex = pos;
    const m = re.exec(s);
    if (!m) return undefined;
    total += Number(m[1]) * UNIT_MS[m[2]];
    pos = re.lastIndex;
  }
  return pos > 0 ? total : undefined;
}

/** Unix seconds for `value`, relative durations counted back from `nowMs`. */
export function parseTimeArg(value: string, nowMs: number): number {
  const v = value.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v);
  const d = parseDuration(v);
  if (d !== undefined) return (nowMs - d) / 1000;
  if (/^\d{4}-\d\d-\d\d([T ]\d\d:\d\d(:\d\d(\.\d+)?)?)?(Z|[+-]\d\d:?\d\d)?$/.test(v)) {
    const ms = Date.parse(v);
    if (!Number.isNaN(ms)) return ms / 1000;
  }
  throw new Error(
    `invalid time "${value}": use RFC 3339 (2024-05-01T10:00:00Z), unix seconds or a ` +
      "duration such as 10m or 1h30m",
  );
}
