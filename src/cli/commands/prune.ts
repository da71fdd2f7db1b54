/**
 * `polis image prune [-a] [-f]` and `polis system df`, as docker's CLI shows them.
 * @module
 */

import { formatBytes } from "../../core/mod.ts";
import type { DiskUsageRow } from "../../engine/types.ts";
import { type Command, type CommandContext, EXIT_OK } from "../command.ts";
import { formatTable } from "../format.ts";

/** Asks on stdin; true for y/yes. */
async function confirm(ctx: CommandContext, question: string): Promise<boolean> {
  await ctx.io.stdout.write(`${question}\nAre you sure you want to continue? [y/N] `);
  const reader = ctx.io.stdin().getReader();
  const { value } = await reader.read();
  reader.releaseLock();
  const answer = new TextDecoder().decode(value ?? new Uint8Array()).trim().toLowerCase();
  if (answer === "y" || answer === "yes") return true;
  await ctx.io.stdout.write("\n");
  return false;
}

export const imagePruneCommand: Command = {
  name: "prune",
  spec: {
    usage: "[OPTIONS]",
    summary: "Remove unused images",
    args: { min: 0, max: 0 },
    flags: [
      {
        name: "all",
        short: "a",
        kind: "bool",
        help: "Remove all unused images, not just dangling ones",
      },
      { name: "force", short: "f", kind: "bool", help: "Do not prompt for confirmation" },
    ],
  },
  async run(ctx, args) {
    const all = args.bool("all");
    if (!args.bool("force")) {
      const what = all
        ? "WARNING! This will remove all images without at least one container associated to them."
        : "WARNING! This will remove all dangling images.";
      if (!await confirm(ctx, what)) return EXIT_OK;
    }
    const r = await ctx.client().pruneImages({ all });
    let text = "";
    if (r.ImagesDeleted.length) {
      text = "Deleted Images:\n" + r.ImagesDeleted.map((d) =>
        d.Untagged !== undefined ? `untagged: ${d.Untagged}\n` : `deleted: ${d.Deleted}\n`
      ).join("") + "\n";
    }
    text += `Total reclaimed space: ${formatBytes(r.SpaceReclaimed)}\n`;
    await ctx.io.stdout.write(text);
    return EXIT_OK;
  },
};

function reclaimable(r: DiskUsageRow): string {
  if (!r.Supported) return "0B";
  const pct = r.Size > 0 ? Math.round((r.Reclaimable / r.Size) * 100) : 0;
  return `${formatBytes(r.Reclaimable)} (${pct}%)`;
}

export const systemDfCommand: Command = {
  name: "df",
  spec: {
    usage: "",
    summary: "Show disk usage",
    args: { min: 0, max: 0 },
    flags: [],
  },
  async run(ctx) {
    const { Rows } = await ctx.client().diskUsage();
    const rows = Rows.map((r) => [
      r.Type,
      String(r.Total),
      String(r.Active),
      formatBytes(r.Size),
      reclaimable(r),
    ]);
    await ctx.io.stdout.write(
      formatTable(["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"], rows),
    );
    return EXIT_OK;
  },
};
