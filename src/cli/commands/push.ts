/**
 * `polis push [-q] IMAGE`: docker's lines ("The push refers to repository [...]", one per
 * blob, "TAG: digest: sha256:… size: N"), with credentials from `polis login` or
 * `~/.docker/config.json`.
 * @module
 */

import { type Command, EXIT_OK } from "../command.ts";
import { readCredentials, registryHost, withDefaultTag } from "./pull.ts";

export const pushCommand: Command = {
  name: "push",
  spec: {
    usage: "[OPTIONS] NAME[:TAG]",
    summary: "Upload an image to a registry",
    args: { min: 1, max: 1 },
    flags: [{ name: "quiet", short: "q", kind: "bool", help: "Suppress verbose output" }],
  },
  async run(ctx, args) {
    const ref = withDefaultTag(args.args[0]);
    const auth = readCredentials(ctx.io, registryHost(ref));
    const r = await ctx.client().pushImage(ref, { auth });
    if (args.bool("quiet")) {
      await ctx.io.stdout.write(`${r.reference}\n`);
      return EXIT_OK;
    }
    const repo = r.reference.slice(0, r.reference.lastIndexOf(":"));
    const tag = r.reference.slice(r.reference.lastIndexOf(":") + 1);
    let text = `The push refers to repository [${repo}]\n`;
    for (const p of r.progress) text += `${p.id}: ${p.status}\n`;
    text += `${tag}: digest: ${r.digest} size: ${r.size}\n`;
    await ctx.io.stdout.write(text);
    return EXIT_OK;
  },
};
