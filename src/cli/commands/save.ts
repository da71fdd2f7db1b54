/**
 * `polis save [-o FILE] [--format docker-archive|oci] IMAGE...`: the daemon's tar stream to a
 * file (written beside it and renamed when complete, so a failed save leaves no half file)
 * or to stdout when it is not a terminal, as docker does.
 * @module
 */

import { type Command, EXIT_OK } from "../command.ts";
import { UsageError } from "../flags.ts";

const FORMATS = ["docker-archive", "oci"] as const;

export const saveCommand: Command = {
  name: "save",
  spec: {
    usage: "[OPTIONS] IMAGE [IMAGE...]",
    summary: "Save one or more images to a tar archive (streamed to STDOUT by default)",
    args: { min: 1 },
    flags: [
      {
        name: "output",
        short: "o",
        kind: "string",
        arg: "FILE",
        help: "Write to a file, instead of STDOUT",
      },
      {
        name: "format",
        kind: "string",
        arg: "FORMAT",
        help: "docker-archive (default; also an OCI layout) or oci",
      },
    ],
  },
  async run(ctx, args) {
    const format = args.string("format") ?? "docker-archive";
    if (!(FORMATS as readonly string[]).includes(format)) {
      throw new UsageError(`invalid --format "${format}": use docker-archive or oci`);
    }
    const output = args.string("output");
    if (output === undefined && ctx.io.stdoutIsTerminal?.()) {
      throw new UsageError(
        "cowardly refusing to save to a terminal. Use the -o flag or redirect",
      );
    }
    const body = await ctx.client().saveImages(
      args.args,
      format as (typeof FORMATS)[number],
    );
    if (output === undefined) {
      for await (const chunk of body) await ctx.io.stdout.write(chunk);
      return EXIT_OK;
    }
    const tmp = `${output}.polis-save-${crypto.randomUUID().slice(0, 8)}`;
    try {
      const file = await Deno.open(tmp, { write: true, createNew: true, mode: 0o644 });
      await body.pipeTo(file.writable);
      Deno.renameSync(tmp, output);
    } catch (e) {
      await Deno.remove(tmp).catch(() => {});
      throw e;
    }
    return EXIT_OK;
  },
};
