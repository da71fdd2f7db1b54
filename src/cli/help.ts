/**
 * Usage texts: the main help, a group's help and a command's help with every flag.
 * @module
 */

import { columns } from "./command-help.ts";
import { COMMANDS, EXTERNAL_COMMANDS, type Group, GROUPS } from "./registry.ts";
import { DEFAULT_SOCKET } from "./client.ts";

export { commandHelp } from "./command-help.ts";

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
