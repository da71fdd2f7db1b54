/**
 * The Polis command line: `runCli(argv)` parses global flags, finds the command, runs it
 * against the daemon and returns the exit code (see `command.ts` for the code table).
 * main.ts handles `daemon`, `_setup`, `_init` and `oci` before calling it.
 *
 * @example
 * ```ts
 * Deno.exit(await runCli(Deno.args));
 * ```
 * @module
 */

import { PolisClient } from "./client.ts";
import { type Command, daemonErrorText, EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from "./command.ts";
import { parseArgs, UsageError } from "./flags.ts";
import { commandHelp, groupHelp, mainHelp } from "./help.ts";
import { type CliIO, denoIO } from "./io.ts";
import { findCommand, findGroup, INTERNAL_COMMANDS } from "./registry.ts";
import { PolisError } from "../core/mod.ts";
import { DEFAULT_SOCKET } from "./client.ts";
import { POLIS_VERSION } from "./version.ts";

export {
  type ContainerCreateRequest,
  DaemonUnreachableError,
  DEFAULT_SOCKET,
  errorFromBody,
  type LogsRequest,
  type LogStream,
  type PendingWait,
  PolisClient,
  type PolisClientOptions,
} from "./client.ts";
export { type CapturedIO, captureIO, type CliIO, denoIO, type Output } from "./io.ts";
export { API_VERSION, POLIS_VERSION } from "./version.ts";

interface Globals {
  socket: string;
  rest: string[];
}

/** Reads the flags before the command name. Returns an exit code when it handled all. */
async function parseGlobals(argv: string[], io: CliIO): Promise<Globals | number> {
  let socket = io.env("POLIS_SOCKET") || DEFAULT_SOCKET;
  let i = 0;
  for (; i < argv.length && argv[i].startsWith("-"); i++) {
    const word = argv[i];
    if (word === "--socket" || word.startsWith("--socket=")) {
      const value = word.includes("=") ? word.slice(word.indexOf("=") + 1) : argv[++i];
      if (!value) throw new UsageError("flag needs an argument: --socket");
      socket = value;
    } else if (word === "-v" || word === "--version") {
      await io.stdout.write(`Polis version ${POLIS_VERSION}\n`);
      return EXIT_OK;
    } else if (word === "-h" || word === "--help") {
      await io.stdout.write(mainHelp());
      return EXIT_OK;
    } else if (word === "--") {
      i++;
      break;
    } else {
      throw new UsageError(
        word.startsWith("--")
          ? `unknown flag: ${word.split("=")[0]}`
          : `unknown shorthand flag: '${word[1]}' in ${word}`,
      );
    }
  }
  return { socket, rest: argv.slice(i) };
}

interface Resolved {
  invoked: string;
  command: Command;
  argv: string[];
}

/** Finds the command for `words`; returns help text to print instead when asked for. */
function resolve(words: string[]): Resolved | { help: string } {
  const [name, ...rest] = words;
  if (name === "help") {
    if (rest.length === 0) return { help: mainHelp() };
    const found = resolve([...rest, "--help"]);
    return "help" in found ? found : { help: commandHelp(found.invoked, found.command) };
  }
  const group = findGroup(name);
  if (group) {
    const [sub, ...args] = rest;
    if (sub === undefined || sub === "--help" || sub === "-h") return { help: groupHelp(group) };
    const entry = group.commands.find((c) => c.names.includes(sub));
    if (!entry) {
      throw new UsageError(`'${sub}' is not a polis ${group.name} command`);
    }
    return { invoked: `${group.name} ${sub}`, command: entry.command, argv: args };
  }
  if (INTERNAL_COMMANDS.includes(name)) {
    // main.ts dispatches these only as the first word.
    throw new UsageError(`'${name}' must come first: polis ${name} [OPTIONS]`);
  }
  const command = findCommand(name);
  if (!command) throw new UsageError(`'${name}' is not a polis command`);
  return { invoked: name, command, argv: rest };
}

/** Runs one CLI invocation; returns the process exit code. */
export async function runCli(argv: string[], io: CliIO = denoIO()): Promise<number> {
  let client: PolisClient | undefined;
  let invoked = "";
  let failureExit = EXIT_FAILURE;
  try {
    const globals = await parseGlobals(argv, io);
    if (typeof globals === "number") return globals;
    if (globals.rest.length === 0) {
      await io.stdout.write(mainHelp());
      return EXIT_OK;
    }
    const found = resolve(globals.rest);
    if ("help" in found) {
      await io.stdout.write(found.help);
      return EXIT_OK;
    }
    invoked = found.invoked;
    failureExit = found.command.failureExit ?? EXIT_FAILURE;
    const args = parseArgs(found.command.spec, found.argv, invoked);
    if (args.help) {
      await io.stdout.write(commandHelp(invoked, found.command));
      return EXIT_OK;
    }
    const ctx = {
      io,
      name: invoked,
      client: () => (client ??= new PolisClient({ socket: globals.socket })),
    };
    return await found.command.run(ctx, args);
  } catch (err) {
    if (err instanceof UsageError) {
      const hint = invoked ? `See 'polis ${invoked} --help'.` : "See 'polis --help'.";
      await io.stderr.write(`${err.message}\n${hint}\n`);
      return EXIT_USAGE;
    }
    const text = err instanceof PolisError
      ? daemonErrorText(err)
      : `Error: ${err instanceof Error ? err.message : String(err)}`;
    await io.stderr.write(text + "\n");
    return failureExit;
  } finally {
    client?.close();
  }
}
