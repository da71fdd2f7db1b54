/**
 * Image commands: images (image ls), load, rmi (image rm), tag.
 * @module
 */

import { formatBytes } from "../../core/mod.ts";
import type { ImageSummary } from "../../engine/types.ts";
import { type Command, EXIT_OK, forEachTarget } from "../command.ts";
import { UsageError } from "../flags.ts";
import { formatListing, shortId, splitRepoTag, timeAgo } from "../format.ts";

/** One row per tag (an untagged image gets one `<none>` row), with docker's field names. */
export function imageRows(images: ImageSummary[], nowMs: number, noTrunc: boolean) {
  return images.flatMap((img) => {
    const refs = img.RepoTags.length > 0 ? img.RepoTags : ["<none>:<none>"];
    return refs.map((ref) => {
      const [Repository, Tag] = ref === "<none>:<none>" ? ["<none>", "<none>"] : splitRepoTag(ref);
      return {
        ID: noTrunc ? img.Id : shortId(img.Id),
        Repository,
        Tag,
        Digest: img.RepoDigests[0]?.split("@")[1] ?? "<none>",
        CreatedAt: new Date(img.Created * 1000).toISOString(),
        CreatedSince: timeAgo(img.Created * 1000, nowMs),
        Size: formatBytes(img.Size),
      };
    });
  });
}

export const imagesCommand: Command = {
  name: "images",
  spec: {
    usage: "[OPTIONS]",
    summary: "List images",
    args: { min: 0, max: 0 },
    flags: [
      { name: "quiet", short: "q", kind: "bool", help: "Only show image IDs" },
      { name: "no-trunc", kind: "bool", help: "Don't truncate output" },
      {
        name: "format",
        kind: "string",
        help: "Format output: table, json, or a template such as '{{.Repository}}:{{.Tag}}'",
      },
    ],
  },
  async run(ctx, args) {
    const rows = imageRows(await ctx.client().listImages(), ctx.io.now(), args.bool("no-trunc"));
    await ctx.io.stdout.write(formatListing(rows, {
      quiet: args.bool("quiet"),
      format: args.string("format"),
      headers: ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"],
      cells: (r) => [r.Repository, r.Tag, r.ID, r.CreatedSince, r.Size],
    }));
    return EXIT_OK;
  },
};

export const loadCommand: Command = {
  name: "load",
  spec: {
    usage: "[OPTIONS]",
    summary: "Load images from a tar archive (docker save or OCI layout) or STDIN",
    args: { min: 0, max: 0 },
    flags: [
      {
        name: "input",
        short: "i",
        kind: "string",
        arg: "FILE",
        help: "Read from tar archive file, instead of STDIN",
      },
      { name: "quiet", short: "q", kind: "bool", help: "Suppress the load output" },
    ],
  },
  async run(ctx, args) {
    const input = args.string("input");
    let stream: ReadableStream<Uint8Array> | { path: string };
    let isDir = false;
    try {
      isDir = input !== undefined && input !== "-" && Deno.statSync(input).isDirectory;
    } catch {
      // a missing file is reported by the open below
    }
    if (isDir) {
      // An OCI layout directory cannot be streamed: the daemon (on this machine) reads it.
      stream = { path: input!.startsWith("/") ? input! : `${Deno.cwd()}/${input}` };
    } else if (input !== undefined && input !== "-") {
      try {
        stream = (await Deno.open(input)).readable;
      } catch (err) {
        throw new UsageError(`open ${input}: ${(err as Error).message}`);
      }
    } else {
      if (ctx.io.stdinIsTerminal()) {
        throw new UsageError("requested load from stdin, but stdin is a terminal: use -i FILE");
      }
      stream = ctx.io.stdin();
    }
    const { loaded } = await ctx.client().loadImages(stream);
    if (!args.bool("quiet")) {
      await ctx.io.stdout.write(loaded.map((ref) => `Loaded image: ${ref}\n`).join(""));
    }
    return EXIT_OK;
  },
};

export const rmiCommand: Command = {
  name: "rmi",
  spec: {
    usage: "[OPTIONS] IMAGE [IMAGE...]",
    summary: "Remove one or more images",
    args: { min: 1 },
    flags: [{ name: "force", short: "f", kind: "bool", help: "Force removal of the image" }],
  },
  run: (ctx, args) =>
    forEachTarget(ctx, args.args, async (ref) => {
      const results = await ctx.client().removeImage(ref, { force: args.bool("force") });
      return results.flatMap((r) => [
        ...(r.Untagged ? [`Untagged: ${r.Untagged}`] : []),
        ...(r.Deleted ? [`Deleted: ${r.Deleted}`] : []),
      ]).join("\n") || undefined;
    }),
};

export const tagCommand: Command = {
  name: "tag",
  spec: {
    usage: "SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
    summary: "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
    args: { min: 2, max: 2 },
    flags: [],
  },
  async run(ctx, args) {
    await ctx.client().tagImage(args.args[0], args.args[1]);
    return EXIT_OK;
  },
};
