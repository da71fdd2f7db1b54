/**
 * `polis run`: create a container, start it, and either print its id (`-d`) or stream its
 * output and exit with its exit code. The wait and the log follower are registered before
 * the start, so neither the first line nor the exit can be missed, also with `--rm`.
 * @module
 */

import { PolisError } from "../../core/mod.ts";
import {
  type Command,
  type CommandContext,
  daemonErrorText,
  EXIT_OK,
  EXIT_USAGE,
  printError,
} from "../command.ts";
import type { LogStream, PendingWait } from "../client.ts";
import { CONTAINER_FLAGS, createRequest } from "./container-options.ts";
import { createPulling } from "./pull.ts";

/**
 * Reports a failed start and returns docker's exit code for it: 125, or the one the engine
 * attached (126 cannot invoke, 127 not found). With --rm the container goes too.
 */
async function startFailed(
  ctx: CommandContext,
  id: string,
  autoRemove: boolean,
  err: unknown,
): Promise<number> {
  if (autoRemove) await ctx.client().removeContainer(id, { force: true }).catch(() => {});
  await printError(ctx, daemonErrorText(err));
  const code = err instanceof PolisError ? err.details?.exitCode : undefined;
  return typeof code === "number" && Number.isInteger(code) ? code : EXIT_USAGE;
}

async function attachAndStart(ctx: CommandContext, id: string, autoRemove: boolean) {
  const client = ctx.client();
  let wait: PendingWait | undefined;
  let logs: LogStream | undefined;
  try {
    // Both are in place before the start; asked for together, they cost one round trip.
    // With --rm, as docker: the container is gone when run returns.
    const [w, l] = await Promise.allSettled([
      client.registerWait(id, autoRemove ? "removed" : undefined),
      client.openLogs(id, { follow: true }),
    ]);
    if (w.status === "rejected" || l.status === "rejected") {
      if (w.status === "fulfilled") w.value.cancel();
      if (l.status === "fulfilled") l.value.close();
      throw w.status === "rejected" ? w.reason : (l as PromiseRejectedResult).reason;
    }
    wait = w.value;
    logs = l.value;
    await client.startContainer(id);
  } catch (err) {
    logs?.close();
    wait?.cancel();
    return await startFailed(ctx, id, autoRemove, err);
  }

  // Forward Ctrl-C and SIGTERM to the container, as docker's sig-proxy does.
  const stopForwarding = ctx.io.onSignals?.(["SIGINT", "SIGTERM"], (sig) => {
    void client.killContainer(id, { signal: sig }).catch(() => {});
  });
  try {
    try {
      for await (const entry of logs) {
        await (entry.stream === "stderr" ? ctx.io.stderr : ctx.io.stdout).write(entry.log);
      }
    } catch (err) {
      // The output was lost, but the exit status may still come: report and keep waiting.
      await printError(ctx, daemonErrorText(err));
    }
    const result = await wait.result;
    return result.StatusCode;
  } finally {
    stopForwarding?.();
  }
}

export const runCommand: Command = {
  name: "run",
  spec: {
    usage: "[OPTIONS] IMAGE [COMMAND] [ARG...]",
    summary: "Create and run a new container from an image",
    stopAtPositional: true,
    args: { min: 1 },
    flags: [
      {
        name: "detach",
        short: "d",
        kind: "bool",
        help: "Run container in background and print container ID",
      },
      ...CONTAINER_FLAGS,
    ],
  },
  failureExit: EXIT_USAGE,
  async run(ctx, args) {
    const req = await createRequest(args, ctx.io);
    const client = ctx.client();
    const { Id, Warnings } = await createPulling(ctx, req);
    for (const w of Warnings) await printError(ctx, `WARNING: ${w}`);
    const autoRemove = req.autoRemove === true;
    if (!args.bool("detach")) return await attachAndStart(ctx, Id, autoRemove);
    try {
      await client.startContainer(Id);
    } catch (err) {
      return await startFailed(ctx, Id, autoRemove, err);
    }
    await ctx.io.stdout.write(Id + "\n");
    return EXIT_OK;
  },
};
