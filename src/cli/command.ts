/**
 * What every command module provides, what it is given, and the exit codes they share.
 *
 * Exit codes:
 * - 0: success.
 * - 1: the daemon refused or failed (any command but run/create), or cannot be reached.
 * - 125: a command-line mistake (unknown flag, bad value, wrong argument count) for every
 *   command, as docker does for flag errors; and for `run`/`create`, any failure before
 *   the container's own process runs (daemon error, daemon unreachable).
 * - 126/127 (run): the container's command cannot be invoked / was not found, taken from
 *   the error's `details.exitCode`.
 * - otherwise (run in the foreground): the container's exit code.
 * @module
 */

import type { CommandSpec, ParsedArgs } from "./flags.ts";
import type { PolisClient } from "./client.ts";
import type { CliIO } from "./io.ts";

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 125;

export interface CommandContext {
  io: CliIO;
  /** Created on first use, so `--help` and usage errors never need a daemon. */
  client(): PolisClient;
  /** The command as typed after "polis", for messages: "rm", "image inspect". */
  name: string;
}

export interface Command {
  name: string;
  aliases?: string[];
  spec: CommandSpec;
  /** Exit code for a daemon error this command does not handle itself (default 1). */
  failureExit?: number;
  run(ctx: CommandContext, args: ParsedArgs): Promise<number>;
}

/** Writes one line to stderr. */
export async function printError(ctx: CommandContext, message: string): Promise<void> {
  await ctx.io.stderr.write(message.endsWith("\n") ? message : message + "\n");
}

/** The one-line form of an error from the daemon. */
export function daemonErrorText(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof Error && err.name === "DaemonUnreachableError") return message;
  return `Error response from daemon: ${message}`;
}

/**
 * Runs `fn` for each target, printing what it returns on success and the error otherwise;
 * returns 1 when any failed (docker's behaviour for rm, stop, kill, start...).
 */
export async function forEachTarget(
  ctx: CommandContext,
  targets: string[],
  fn: (target: string, index: number) => Promise<string | undefined>,
): Promise<number> {
  let failed = false;
  for (const [index, target] of targets.entries()) {
    try {
      const line = await fn(target, index);
      if (line !== undefined) await ctx.io.stdout.write(line + "\n");
    } catch (err) {
      failed = true;
      await printError(ctx, daemonErrorText(err));
    }
  }
  return failed ? EXIT_FAILURE : EXIT_OK;
}
