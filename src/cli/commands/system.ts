/**
 * `polis version` and `polis info`.
 * @module
 */

import { type Command, daemonErrorText, EXIT_FAILURE, EXIT_OK, printError } from "../command.ts";
import { binarySize, renderTemplate } from "../format.ts";
import { API_VERSION, POLIS_VERSION } from "../version.ts";

const formatFlag = {
  name: "format",
  kind: "string",
  help: "Format output: json, or a template such as '{{.Server.Version}}'",
} as const;

function clientSide() {
  return {
    Version: POLIS_VERSION,
    ApiVersion: API_VERSION,
    DenoVersion: Deno.version.deno,
    Os: Deno.build.os,
    Arch: Deno.build.arch,
  };
}

/** `key: value` lines, keys padded so the values line up. */
function section(title: string, entries: [string, string | number][]): string {
  const width = Math.max(...entries.map(([k]) => k.length)) + 1;
  return `${title}:\n` + entries.map(([k, v]) => ` ${(k + ":").padEnd(width)} ${v}\n`).join("");
}

export const versionCommand: Command = {
  name: "version",
  spec: {
    usage: "[OPTIONS]",
    summary: "Show the Polis version information",
    args: { min: 0, max: 0 },
    flags: [formatFlag],
  },
  async run(ctx, args) {
    const client = clientSide();
    let server;
    let failure: unknown;
    try {
      server = await ctx.client().version();
    } catch (err) {
      failure = err;
    }
    const format = args.string("format");
    const both = { Client: client, Server: server ?? null };
    if (format === "json") {
      await ctx.io.stdout.write(JSON.stringify(both) + "\n");
    } else if (format) {
      await ctx.io.stdout.write(renderTemplate(format, both) + "\n");
    } else {
      let text = section("Client", [
        ["Version", client.Version],
        ["API version", client.ApiVersion],
        ["Deno", client.DenoVersion],
        ["OS/Arch", `${client.Os}/${client.Arch}`],
      ]);
      if (server) {
        text += "\n" + section("Server", [
          ["Version", server.Version],
          ["API version", server.ApiVersion],
          ["Deno", server.DenoVersion],
          ["Kernel", server.KernelVersion],
          ["OS/Arch", `${server.Os}/${server.Arch}`],
        ]);
      }
      await ctx.io.stdout.write(text);
    }
    if (failure) {
      await printError(ctx, daemonErrorText(failure));
      return EXIT_FAILURE;
    }
    return EXIT_OK;
  },
};

export const infoCommand: Command = {
  name: "info",
  spec: {
    usage: "[OPTIONS]",
    summary: "Display system-wide information",
    args: { min: 0, max: 0 },
    flags: [formatFlag],
  },
  async run(ctx, args) {
    const info = await ctx.client().info();
    const format = args.string("format");
    if (format) {
      const text = format === "json" ? JSON.stringify(info) : renderTemplate(format, info);
      await ctx.io.stdout.write(text + "\n");
      return EXIT_OK;
    }
    await ctx.io.stdout.write(
      section("Server", [
        ["Containers", info.Containers],
        [" Running", info.ContainersRunning],
        [" Paused", info.ContainersPaused],
        [" Stopped", info.ContainersStopped],
        ["Images", info.Images],
        ["Server Version", info.ServerVersion],
        ["Storage Driver", info.Driver],
        ["Cgroup Driver", info.CgroupDriver],
        ["Cgroup Version", info.CgroupVersion],
        ["Kernel Version", info.KernelVersion],
        ["Operating System", info.OperatingSystem],
        ["OSType", info.OSType],
        ["Architecture", info.Architecture],
        ["CPUs", info.NCPU],
        ["Total Memory", binarySize(info.MemTotal)],
        ["Name", info.Name],
        ["ID", info.ID],
        ["Polis Root Dir", info.DockerRootDir],
      ]),
    );
    return EXIT_OK;
  },
};
