/**
 * One command's usage text, apart from the command table (help.ts) so commands may use it
 * without importing the table that imports them.
 * @module
 */

import type { Command } from "./command.ts";
import type { FlagSpec } from "./flags.ts";

export function columns(rows: [string, string][], indent = "  "): string {
  const width = Math.max(0, ...rows.map(([l]) => l.length)) + 3;
  return rows.map(([l, r]) => `${indent}${l.padEnd(width)}${r}\n`).join("");
}

function flagLeft(f: FlagSpec): string {
  const value = f.kind === "bool" ? "" : ` ${f.arg ?? f.kind}`;
  return `${f.short ? `-${f.short}, ` : "    "}--${f.name}${value}`;
}

export function commandHelp(invoked: string, cmd: Command): string {
  const helpFlag: FlagSpec = {
    name: "help",
    short: cmd.spec.flags.some((f) => f.short === "h") ? undefined : "h",
    kind: "bool",
    help: "Print usage",
  };
  const flags = [...cmd.spec.flags, helpFlag].sort((a, b) => a.name.localeCompare(b.name));
  return `\nUsage:  polis ${invoked} ${cmd.spec.usage}\n\n${cmd.spec.summary}\n\n` +
    `Options:\n${columns(flags.map((f) => [flagLeft(f), f.help]))}`;
}
