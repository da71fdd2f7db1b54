/**
 * The command table: top-level commands, the `container` and `image` groups with docker's
 * sub-command names, and the commands main.ts runs itself (listed in the help only).
 * @module
 */

import type { Command } from "./command.ts";
import { createCommand } from "./commands/create.ts";
import { imagesCommand, loadCommand, rmiCommand, tagCommand } from "./commands/images.ts";
import {
  containerInspectCommand,
  imageInspectCommand,
  inspectCommand,
} from "./commands/inspect.ts";
import {
  killCommand,
  restartCommand,
  rmCommand,
  startCommand,
  stopCommand,
  waitCommand,
} from "./commands/lifecycle.ts";
import { containerFirewallCommand, networkFirewallCommand } from "./commands/firewall.ts";
import { logsCommand } from "./commands/logs.ts";
import {
  networkConnectCommand,
  networkCreateCommand,
  networkDisconnectCommand,
  networkInspectCommand,
  networkLsCommand,
  networkPruneCommand,
  networkRmCommand,
} from "./commands/network.ts";
import { imagePruneCommand, systemDfCommand } from "./commands/prune.ts";
import { psCommand } from "./commands/ps.ts";
import { saveCommand } from "./commands/save.ts";
import { pullCommand } from "./commands/pull.ts";
import { pushCommand } from "./commands/push.ts";
import { loginCommand, logoutCommand } from "./commands/login.ts";
import { runCommand } from "./commands/run.ts";
import { infoCommand, versionCommand } from "./commands/system.ts";

export const COMMANDS: Command[] = [
  runCommand,
  createCommand,
  startCommand,
  stopCommand,
  restartCommand,
  killCommand,
  rmCommand,
  psCommand,
  logsCommand,
  inspectCommand,
  waitCommand,
  imagesCommand,
  loadCommand,
  pullCommand,
  pushCommand,
  loginCommand,
  logoutCommand,
  rmiCommand,
  saveCommand,
  tagCommand,
  versionCommand,
  infoCommand,
];

export interface Group {
  name: string;
  summary: string;
  /** Sub-command name (and aliases) to command. */
  commands: { names: string[]; command: Command }[];
}

export const GROUPS: Group[] = [
  {
    name: "container",
    summary: "Manage containers",
    commands: [
      { names: ["create"], command: createCommand },
      { names: ["firewall"], command: containerFirewallCommand },
      { names: ["inspect"], command: containerInspectCommand },
      { names: ["kill"], command: killCommand },
      { names: ["logs"], command: logsCommand },
      { names: ["ls", "ps", "list"], command: psCommand },
      { names: ["restart"], command: restartCommand },
      { names: ["rm", "remove"], command: rmCommand },
      { names: ["run"], command: runCommand },
      { names: ["start"], command: startCommand },
      { names: ["stop"], command: stopCommand },
      { names: ["wait"], command: waitCommand },
    ],
  },
  {
    name: "image",
    summary: "Manage images",
    commands: [
      { names: ["inspect"], command: imageInspectCommand },
      { names: ["load"], command: loadCommand },
      { names: ["ls", "list"], command: imagesCommand },
      { names: ["prune"], command: imagePruneCommand },
      { names: ["pull"], command: pullCommand },
      { names: ["push"], command: pushCommand },
      { names: ["rm", "remove"], command: rmiCommand },
      { names: ["save"], command: saveCommand },
      { names: ["tag"], command: tagCommand },
    ],
  },
  {
    name: "network",
    summary: "Manage networks",
    commands: [
      { names: ["create"], command: networkCreateCommand },
      { names: ["inspect"], command: networkInspectCommand },
      { names: ["ls", "list"], command: networkLsCommand },
      { names: ["rm", "remove"], command: networkRmCommand },
      { names: ["connect"], command: networkConnectCommand },
      { names: ["disconnect"], command: networkDisconnectCommand },
      { names: ["prune"], command: networkPruneCommand },
      { names: ["firewall"], command: networkFirewallCommand },
    ],
  },
  {
    name: "system",
    summary: "Manage Polis",
    commands: [{ names: ["df"], command: systemDfCommand }],
  },
];

/** Run by main.ts before the CLI, never by `runCli`; shown in the help. */
export const EXTERNAL_COMMANDS: { name: string; usage: string; summary: string }[] = [
  {
    name: "daemon",
    usage: "daemon [--root DIR] [--socket PATH]",
    summary: "Run the Polis daemon (env POLIS_ROOT, POLIS_SOCKET)",
  },
];

/** Hidden modes main.ts dispatches itself. */
export const INTERNAL_COMMANDS = ["daemon", "_setup", "_init", "oci"];

export function findCommand(name: string): Command | undefined {
  return COMMANDS.find((c) => c.name === name || c.aliases?.includes(name));
}

export function findGroup(name: string): Group | undefined {
  return GROUPS.find((g) => g.name === name);
}
