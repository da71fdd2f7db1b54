/**
 * `polis ps`: the container table, ids only (-q), or one JSON object / template line per
 * container (--format).
 * @module
 */

import type { ContainerSummary } from "../../engine/types.ts";
import { type Command, EXIT_OK } from "../command.ts";
import { UsageError } from "../flags.ts";
import { displayNames, ellipsis, formatListing, labelsText, shortId, timeAgo } from "../format.ts";

/** `-f key=value` flags as docker's filter map: repeated keys collect their values. */
export function parseFilters(flags: string[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const f of flags) {
    const eq = f.indexOf("=");
    if (eq <= 0) throw new UsageError(`bad format of filter "${f}" (expected name=value)`);
    (out[f.slice(0, eq)] ??= []).push(f.slice(eq + 1));
  }
  return out;
}

/** One container as `--format` sees it, with docker's field names. */
export function psRow(c: ContainerSummary, nowMs: number, noTrunc: boolean) {
  return {
    ID: noTrunc ? c.Id : shortId(c.Id),
    Image: c.Image,
    Command: `"${noTrunc ? c.Command : ellipsis(c.Command, 20)}"`,
    CreatedAt: new Date(c.Created * 1000).toISOString(),
    RunningFor: timeAgo(c.Created * 1000, nowMs),
    Names: displayNames(c.Names),
    State: c.State,
    Status: c.Status || c.State,
    Labels: labelsText(c.Labels),
  };
}

export const psCommand: Command = {
  name: "ps",
  spec: {
    usage: "[OPTIONS]",
    summary: "List containers",
    args: { min: 0, max: 0 },
    flags: [
      {
        name: "all",
        short: "a",
        kind: "bool",
        help: "Show all containers (default shows just running)",
      },
      { name: "quiet", short: "q", kind: "bool", help: "Only display container IDs" },
      { name: "no-trunc", kind: "bool", help: "Don't truncate output" },
      {
        name: "format",
        kind: "string",
        help: "Format output: table, json, or a template such as '{{.ID}} {{.Names}}'",
      },
      {
        name: "filter",
        short: "f",
        kind: "list",
        help: "Filter output (id, name, status, label, ancestor), e.g. status=running",
      },
    ],
  },
  async run(ctx, args) {
    const filters = parseFilters(args.list("filter"));
    const list = await ctx.client().listContainers({ all: args.bool("all"), filters });
    const noTrunc = args.bool("no-trunc");
    const now = ctx.io.now();
    const rows = list.map((c) => psRow(c, now, noTrunc));
    await ctx.io.stdout.write(formatListing(rows, {
      quiet: args.bool("quiet"),
      format: args.string("format"),
      headers: ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "NAMES"],
      cells: (r) => [r.ID, r.Image, r.Command, r.RunningFor, r.Status, r.Names],
    }));
    return EXIT_OK;
  },
};
