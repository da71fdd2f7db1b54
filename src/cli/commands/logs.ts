/**
 * `polis logs`: print a container's output, stdout to stdout and stderr to stderr, and
 * with -f keep following until it stops.
 * @module
 */

import { type Command, EXIT_OK } from "../command.ts";
import { UsageError } from "../flags.ts";
import { parseTimeArg } from "../time.ts";

function timeFlag(flag: string, value: string | undefined, nowMs: number): number | undefined {
  if (value === undefined) return undefined;
  try {
    return parseTimeArg(value, nowMs);
  } catch (err) {
    throw new UsageError(`invalid argument for --${flag}: ${(err as Error).message}`);
  }
}

function tailFlag(value: string | undefined): number | undefined {
  if (value === undefined || value === "all") return undefined;
  if (!/^\d+$/.test(value)) {
    throw new UsageError(`invalid argument "${value}" for "-n, --tail" flag: use a number or all`);
  }
  return Number(value);
}

export const logsCommand: Command = {
  name: "logs",
  spec: {
    usage: "[OPTIONS] CONTAINER",
    summary: "Fetch the logs of a container",
    args: { min: 1, max: 1 },
    flags: [
      { name: "follow", short: "f", kind: "bool", help: "Follow log output" },
      {
        name: "tail",
        short: "n",
        kind: "string",
        help: 'Number of lines to show from the end of the logs (default "all")',
      },
      {
        name: "since",
        kind: "string",
        help: "Show logs since timestamp (2024-05-01T10:00:00Z, unix seconds) or relative (10m)",
      },
      {
        name: "until",
        kind: "string",
        help: "Show logs before a timestamp (2024-05-01T10:00:00Z, unix seconds) or relative (10m)",
      },
      { name: "timestamps", short: "t", kind: "bool", help: "Show timestamps" },
    ],
  },
  async run(ctx, args) {
    const now = ctx.io.now();
    const opts = {
      follow: args.bool("follow"),
      tail: tailFlag(args.string("tail")),
      since: timeFlag("since", args.string("since"), now),
      until: timeFlag("until", args.string("until"), now),
    };
    const stamps = args.bool("timestamps");
    for await (const entry of ctx.client().containerLogs(args.args[0], opts)) {
      const out = entry.stream === "stderr" ? ctx.io.stderr : ctx.io.stdout;
      await out.write(stamps ? `${entry.time} ${entry.log}` : entry.log);
    }
    return EXIT_OK;
  },
};
