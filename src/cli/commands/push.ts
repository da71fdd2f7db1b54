/**
 * `polis push [-q] IMAGE`: docker's lines ("The push refers to repository [...]", one per
 * blob as its status changes, or bars redrawn in place on a terminal, then "TAG: digest:
 * sha256:… size: N"), with credentials from `polis login` or `~/.docker/config.json`.
 * @module
 */

import { type Command, EXIT_OK } from "../command.ts";
import { PullPrinter, readCredentials, registryHost, withDefaultTag } from "./pull.ts";

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
    const quiet = args.bool("quiet");
    const printer = new PullPrinter(ctx.io.stdout, ctx.io.stdoutIsTerminal?.() ?? false);
    let chain = Promise.resolve();
    const r = await ctx.client().pushImage(ref, { auth }, (p) => {
      if (!quiet) chain = chain.then(() => printer.message(p));
    });
    await chain;
    if (quiet) {
      await ctx.io.stdout.write(`${r.reference}\n`);
      return EXIT_OK;
    }
    const tag = r.reference.slice(r.reference.lastIndexOf(":") + 1);
    await ctx.io.stdout.write(`${tag}: digest: ${r.digest} size: ${r.size}\n`);
    return EXIT_OK;
  },
};
