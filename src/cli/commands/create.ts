/**
 * `polis create`: create a container and print its id.
 * @module
 */

import { type Command, EXIT_OK, EXIT_USAGE, printError } from "../command.ts";
import { CONTAINER_FLAGS, createRequest } from "./container-options.ts";
import { createPulling } from "./pull.ts";

export const createCommand: Command = {
  name: "create",
  spec: {
    usage: "[OPTIONS] IMAGE [COMMAND] [ARG...]",
    summary: "Create a new container",
    stopAtPositional: true,
    args: { min: 1 },
    flags: CONTAINER_FLAGS,
  },
  failureExit: EXIT_USAGE,
  async run(ctx, args) {
    const req = await createRequest(args, ctx.io);
    const { Id, Warnings } = await createPulling(ctx, req);
    for (const w of Warnings) await printError(ctx, `WARNING: ${w}`);
    await ctx.io.stdout.write(Id + "\n");
    return EXIT_OK;
  },
};
