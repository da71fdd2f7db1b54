/**
 * A command with verbs of its own (`polis network firewall add|ls|rm`): one entry in a group's
 * table that parses the rest of the line with the chosen verb's spec, so the dispatcher and
 * the command table stay two levels deep.
 * @module
 */

import type { Command } from "./command.ts";
import { EXIT_OK } from "./command.ts";
import { parseArgs, UsageError } from "./flags.ts";
import { commandHelp } from "./command-help.ts";

export interface Verb {
  names: string[];
  command: Command;
}

/** `name VERB ...`: finds the verb, parses its flags, prints its help when asked. */
export function withVerbs(name: string, summary: string, verbs: Verb[]): Command {
  const width = Math.max(...verbs.map((v) => v.names[0].length)) + 3;
  const listing = verbs.map((v) => `  ${v.names[0].padEnd(width)}${v.command.spec.summary}\n`)
    .join("");
  return {
    name,
    spec: {
      usage: `{${verbs.map((v) => v.names[0]).join("|")}} [OPTIONS] ...`,
      summary,
      flags: [],
      stopAtPositional: true,
      args: { min: 0 },
    },
    async run(ctx, args) {
      const [verb, ...rest] = args.args;
      if (verb === undefined) {
        await ctx.io.stdout.write(groupText(ctx.name, summary, listing));
        return EXIT_OK;
      }
      const found = verbs.find((v) => v.names.includes(verb));
      if (!found) throw new UsageError(`'${verb}' is not a polis ${ctx.name} command`);
      const invoked = `${ctx.name} ${verb}`;
      const parsed = parseArgs(found.command.spec, rest, invoked);
      if (parsed.help) {
        await ctx.io.stdout.write(commandHelp(invoked, found.command));
        return EXIT_OK;
      }
      return found.command.run({ ...ctx, name: invoked }, parsed);
    },
  };
}

function groupText(invoked: string, summary: string, listing: string): string {
  return `\nUsage:  polis ${invoked} COMMAND\n\n${summary}\n\nCommands:\n${listing}` +
    `\nRun 'polis ${invoked} COMMAND --help' for more information on a command.\n`;
}
