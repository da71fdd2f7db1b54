/**
 * Pure output helpers: docker-style aligned tables, human durations ("5 seconds ago",
 * "Up 3 minutes", "Exited (0) 2 minutes ago"), truncation, image reference splitting and
 * a small `--format` template language (`{{.Field}}`, `{{.A.B}}`, `{{json .}}`).
 * @module
 */

/** Columns padded to the widest cell plus three spaces, as docker's tabwriter does. */
export function formatTable(headers: string[], rows: string[][]): string {
  const all = [headers, ...rows];
  const widths = headers.map((_, i) => Math.max(...all.map((r) => (r[i] ?? "").length)));
  return all.map((row) =>
    row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] + 3))).join("")
  ).join("\n") + "\n";
}

/**
 * docker's HumanDuration: "Less than a second", "1 second", "N seconds", "About a minute",
 * "N minutes", "About an hour", "N hours", then days (from 48 hours), weeks (from 14 days),
 * months (from 8 weeks) and years (from 2 years).
 */
export function humanDuration(seconds: number): string {
  if (seconds < 1) return "Less than a second";
  if (Math.floor(seconds) === 1) return "1 second";
  if (seconds < 60) return `${Math.floor(seconds)} seconds`;
  const minutes = Math.floor(seconds / 60);
  if (minutes === 1) return "About a minute";
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.round(seconds / 3600);
  if (hours === 1) return "About an hour";
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.floor(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.floor(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24 / 30)} months`;
  return `${Math.floor(hours / 24 / 365)} years`;
}

/** "5 seconds ago" for a time in milliseconds since the epoch. */
export function timeAgo(thenMs: number, nowMs: number): string {
  return `${humanDuration(Math.max(0, nowMs - thenMs) / 1000)} ago`;
}

/** The state fields `statusText` needs, as `inspect` reports them. */
export interface StatusInput {
  Status: string;
  ExitCode: number;
  StartedAt: string;
  FinishedAt: string;
}

/** docker's STATUS column from a container's state: "Up 3 minutes", "Exited (0) 2 hours ago". */
export function statusText(s: StatusInput, nowMs: number): string {
  const since = (iso: string) => humanDuration(Math.max(0, nowMs - Date.parse(iso)) / 1000);
  switch (s.Status) {
    case "running":
      return `Up ${since(s.StartedAt)}`;
    case "paused":
      return `Up ${since(s.StartedAt)} (Paused)`;
    case "restarting":
      return `Restarting (${s.ExitCode}) ${since(s.FinishedAt)} ago`;
    case "exited":
      return `Exited (${s.ExitCode}) ${since(s.FinishedAt)} ago`;
    case "created":
      return "Created";
    case "removing":
      return "Removal In Progress";
    case "dead":
      return "Dead";
    default:
      return s.Status;
  }
}

/** Binary sizes with four significant digits, as docker's info shows memory: "7.774GiB". */
export function binarySize(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${Number(v.toPrecision(4))}${units[i]}`;
}

/** Shortens `s` to `max` characters, ending with "…" when cut. */
export function ellipsis(s: string, max: number): string {
  return s.length <= max ? s : s.slice(0, max - 1) + "…";
}

/** A 64-hex id (with or without "sha256:") as the 12 characters tables show. */
export function shortId(id: string): string {
  return id.replace(/^sha256:/, "").slice(0, 12);
}

/** Splits "reg:5000/app:1.0" into ["reg:5000/app", "1.0"]; no tag gives "<none>". */
export function splitRepoTag(ref: string): [string, string] {
  const at = ref.indexOf("@");
  const name = at >= 0 ? ref.slice(0, at) : ref;
  const colon = name.lastIndexOf(":");
  if (colon > name.lastIndexOf("/")) return [name.slice(0, colon), name.slice(colon + 1)];
  return [name, "<none>"];
}

/** Container names as `ps` shows them: without docker's leading slash, comma-joined. */
export function displayNames(names: string[]): string {
  return names.map((n) => n.replace(/^\//, "")).join(",");
}

/** "k=v,k2=v2", as docker shows labels in `--format` output. */
export function labelsText(labels: Record<string, string>): string {
  return Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(",");
}

function lookup(value: unknown, path: string): unknown {
  let v = value;
  for (const key of path.split(".").filter(Boolean)) {
    if (typeof v !== "object" || v === null || !(key in v)) {
      throw new Error(`template: can't evaluate field ${key}`);
    }
    v = (v as Record<string, unknown>)[key];
  }
  return v;
}

/**
 * Renders a small subset of docker's Go templates: `{{.Field}}`, dotted paths
 * (`{{.State.Pid}}`) and `{{json .X}}` / `{{json .}}`. Anything else is an error.
 */
export function renderTemplate(template: string, value: unknown): string {
  return template.replace(/\{\{(.*?)\}\}/g, (_, inner: string) => {
    const m = /^\s*(json\s+)?\.([\w.]*)\s*$/.exec(inner);
    if (!m) throw new Error(`template: unsupported action {{${inner}}}`);
    const v = lookup(value, m[2]);
    if (m[1]) return JSON.stringify(v);
    if (typeof v === "string") return v;
    if (Array.isArray(v)) return `[${v.join(" ")}]`;
    if (v === null || v === undefined) return "<no value>";
    return typeof v === "object" ? JSON.stringify(v) : String(v);
  });
}

/** What an `ls`-style command prints its rows as (its `-q` and `--format` flags). */
export interface ListingOptions<R> {
  /** Only the IDs, each once. */
  quiet?: boolean;
  /** `table` (or none), `json` (an object a line) or a template rendered a row a line. */
  format?: string;
  headers: string[];
  /** A row's table cells, in the order of `headers`. */
  cells: (row: R) => string[];
}

/** The text an `ls`-style command writes for `rows`, as docker's `-q` and `--format` shape it. */
export function formatListing<R extends { ID: string }>(rows: R[], o: ListingOptions<R>): string {
  const lines = (f: (r: R) => string) => rows.map((r) => f(r) + "\n").join("");
  const { format } = o;
  if (o.quiet) return [...new Set(rows.map((r) => r.ID))].map((id) => id + "\n").join("");
  if (format === "json") return lines((r) => JSON.stringify(r));
  if (format && format !== "table") return lines((r) => renderTemplate(format, r));
  return formatTable(o.headers, rows.map(o.cells));
}
