/**
 * The verbs that act on several containers and print each one done: start, stop, kill,
 * restart, rm, wait.
 * @module
 */

import { type Command, forEachTarget } from "../command.ts";

const many = { min: 1 };

export const startCommand: Command = {
  name: "start",
  spec: {
    usage: "CONTAINER [CONTAINER...]",
    summary: "Start one or more stopped containers",
    args: many,
    flags: [],
  },
  run: (ctx, args) =>
    forEachTarget(ctx, args.args, async (id) => {
      await ctx.client().startContainer(id);
      return id;
    }),
};

export const stopCommand: Command = {
  name: "stop",
  spec: {
    usage: "[OPTIONS] CONTAINER [CONTAINER...]",
    summary: "Stop one or more running containers",
    args: many,
    flags: [{
      name: "time",
      short: "t",
      kind: "int",
      help: "Seconds to wait before killing the container",
    }],
  },
  run: (ctx, args) =>
    forEachTarget(ctx, args.args, async (id) => {
      await ctx.client().stopContainer(id, { timeout: args.int("time") });
      return id;
    }),
};

export const restartCommand: Command = {
  name: "restart",
  spec: {
    usage: "[OPTIONS] CONTAINER [CONTAINER...]",
    summary: "Restart one or more containers",
    args: many,
    flags: [{
      name: "time",
      short: "t",
      kind: "int",
      help: "Seconds to wait before killing the container",
    }],
  },
  run: (ctx, args) =>
    forEachTarget(ctx, args.args, async (id) => {
      await ctx.client().restartContainer(id, { timeout: args.int("time") });
      return id;
    }),
};

export const killCommand: Command = {
  name: "kill",
  spec: {
    usage: "[OPTIONS] CONTAINER [CONTAINER...]",
    summary: "Kill one or more running containers",
    args: many,
    flags: [{
      name: "signal",
      short: "s",
      kind: "string",
      help: "Signal to send to the container (default SIGKILL)",
    }],
  },
  run: (ctx, args) =>
    forEachTarget(ctx, args.args, async (id) => {
      await ctx.client().killContainer(id, { signal: args.string("signal") });
      return id;
    }),
};

export const rmCommand: Command = {
  name: "rm",
  spec: {
    usage: "[OPTIONS] CONTAINER [CONTAINER...]",
    summary: "Remove one or more containers",
    args: many,
    flags: [{
      name: "force",
      short: "f",
      kind: "bool",
      help: "Force the removal of a running container (uses SIGKILL)",
    }],
  },
  run: (ctx, args) =>
    forEachTarget(ctx, args.args, async (id) => {
      await ctx.client().removeContainer(id, { force: args.bool("force") });
      return id;
    }),
};

export const waitCommand: Command = {
  name: "wait",
  spec: {
    usage: "CONTAINER [CONTAINER...]",
    summary: "Block until one or more containers stop, then print their exit codes",
    args: many,
    flags: [],
  },
  async run(ctx, args) {
    // All waits are registered at once; results print in the order given.
    const results = args.args.map((id) => ctx.client().waitContainer(id));
    for (const r of results) r.catch(() => {});
    return await forEachTarget(ctx, args.args, async (_id, i) => {
      const { StatusCode } = await results[i];
      return String(StatusCode);
    });
  },
};
