/**
 * Usage texts: the main help, a group's help and a command's help with every flag.
 * @module
 */

import type { Command } from "./command.ts";
import type { FlagSpec } from "./flags.ts";
import { COMMANDS, EXTERNAL_COMMANDS, type Group, GROUPS } from "./registry.ts";
import { DEFAULT_SOCKET } from "./client.ts";

function columns(rows: [string, string][], indent = "  "): string {
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

export function groupHelp(group: Group): string {
  return `\nUsage:  polis ${group.name} COMMAND\n\n${group.summary}\n\nCommands:\n` +
    columns(group.commands.map((c) => [c.names[0], c.command.spec.summary])) +
    `\nRun 'polis ${group.name} COMMAND --help' for more information on a command.\n`;
}

export function mainHelp(): string {
  return "\nUsage:  polis [OPTIONS] COMMAND\n\n" +
    "A docker-shaped container engine for edge devices\n\n" +
    "Commands:\n" +
    columns(COMMANDS.map((c) => [c.name, c.spec.summary])) +
    "\nManagement Commands:\n" +
    columns(GROUPS.map((g) => [g.name, g.summary])) +
    "\nDaemon:\n" +
    columns(EXTERNAL_COMMANDS.map((c) => [c.usage, c.summary])) +
    "\nGlobal Options:\n" +
    columns([
      ["    --socket PATH", `Daemon socket (env POLIS_SOCKET, default ${DEFAULT_SOCKET})`],
      ["-h, --help", "Print usage"],
      ["-v, --version", "Print version information and quit"],
    ]) +
    "\nRun 'polis COMMAND --help' for more information on a command.\n";
}
