/**
 * `polis inspect` (containers, then images) and `polis image inspect`: a JSON array with
 * docker's 4-space indent, or one template line per object (-f).
 * @module
 */

import { PolisError } from "../../core/mod.ts";
import {
  type Command,
  type CommandContext,
  daemonErrorText,
  EXIT_FAILURE,
  EXIT_OK,
  printError,
} from "../command.ts";
import { type CommandSpec, type ParsedArgs, UsageError } from "../flags.ts";
import { renderTemplate } from "../format.ts";

type Kind = "container" | "image";

async function find(ctx: CommandContext, ref: string, kinds: Kind[]): Promise<unknown> {
  const client = ctx.client();
  for (const kind of kinds) {
    try {
      return kind === "container"
        ? await client.inspectContainer(ref)
        : await client.inspectImage(ref);
    } catch (err) {
      if (!(err instanceof PolisError && err.code === "not_found")) throw err;
    }
  }
  throw PolisError.notFound(`No such ${kinds.length === 1 ? kinds[0] : "object"}: ${ref}`);
}

function inspect(ctx: CommandContext, args: ParsedArgs, kinds: Kind[]): Promise<number> {
  return printInspected(ctx, args, (ref) => find(ctx, ref, kinds));
}

/**
 * docker's inspect output for every ref: one JSON array (or `--format` per object), then an
 * "Error: No such …" line for each ref not found; exit 1 if any was missing.
 */
export async function printInspected(
  ctx: CommandContext,
  args: ParsedArgs,
  lookup: (ref: string) => Promise<unknown>,
): Promise<number> {
  const found: unknown[] = [];
  const errors: string[] = [];
  for (const ref of args.args) {
    try {
      found.push(await lookup(ref));
    } catch (err) {
      errors.push(
        err instanceof PolisError && err.code === "not_found"
          ? `Error: ${err.message}`
          : daemonErrorText(err),
      );
    }
  }
  const format = args.string("format");
  if (format) {
    let text = "";
    for (const obj of found) {
      try {
        text += renderTemplate(format, obj) + "\n";
      } catch (err) {
        throw new UsageError(`invalid --format: ${(err as Error).message}`);
      }
    }
    await ctx.io.stdout.write(text);
  } else {
    await ctx.io.stdout.write(JSON.stringify(found, null, 4) + "\n");
  }
  for (const e of errors) await printError(ctx, e);
  return errors.length > 0 ? EXIT_FAILURE : EXIT_OK;
}

const formatFlag = {
  name: "format",
  short: "f",
  kind: "string",
  help: "Format the output using a template, e.g. '{{.State.Pid}}' or '{{json .Config}}'",
} as const;

const spec: CommandSpec = {
  usage: "[OPTIONS] NAME|ID [NAME|ID...]",
  summary: "Return low-level information on containers or images",
  args: { min: 1 },
  flags: [
    formatFlag,
    { name: "type", kind: "string", help: "Only inspect objects of this type (container, image)" },
  ],
};

export const inspectCommand: Command = {
  name: "inspect",
  spec,
  run(ctx, args) {
    const type = args.string("type");
    if (type !== undefined && type !== "container" && type !== "image") {
      throw new UsageError(`"${type}" is not a valid value for --type`);
    }
    return inspect(ctx, args, type ? [type] : ["container", "image"]);
  },
};

export const imageInspectCommand: Command = {
  name: "inspect",
  spec: {
    usage: "[OPTIONS] IMAGE [IMAGE...]",
    summary: "Display detailed information on one or more images",
    args: { min: 1 },
    flags: [formatFlag],
  },
  run: (ctx, args) => inspect(ctx, args, ["image"]),
};

export const containerInspectCommand: Command = {
  name: "inspect",
  spec: {
    usage: "[OPTIONS] CONTAINER [CONTAINER...]",
    summary: "Display detailed information on one or more containers",
    args: { min: 1 },
    flags: [formatFlag],
  },
  run: (ctx, args) => inspect(ctx, args, ["container"]),
};
