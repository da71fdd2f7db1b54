/**
 * `polis network create|ls|inspect|rm|connect|disconnect|prune`: bridge networks as docker's CLI
 * shows them.
 * @module
 */

import { type Command, EXIT_OK, forEachTarget } from "../command.ts";
import { UsageError } from "../flags.ts";
import { formatListing, shortId } from "../format.ts";
import { printInspected } from "./inspect.ts";

export const networkCreateCommand: Command = {
  name: "create",
  spec: {
    usage: "[OPTIONS] NETWORK",
    summary: "Create a bridge network",
    args: { min: 1, max: 1 },
    flags: [
      {
        name: "subnet",
        kind: "list",
        arg: "CIDR",
        help: "Subnet, e.g. 10.232.5.0/24; with --ipv6 also an IPv6 one, e.g. fd12:3456::/64",
      },
      { name: "gateway", kind: "list", arg: "IP", help: "Gateway of the (IPv4 or IPv6) subnet" },
      {
        name: "ipv6",
        kind: "bool",
        help: "Dual-stack: an IPv6 subnet too (a free /64 of fd70:6f6c:6973::/48 unless given)",
      },
      { name: "internal", kind: "bool", help: "Restrict external access to the network" },
      { name: "driver", short: "d", kind: "string", help: 'Driver (only "bridge")' },
      { name: "label", kind: "list", help: "Set metadata on a network (KEY=VALUE)" },
    ],
  },
  async run(ctx, args) {
    const driver = args.string("driver");
    if (driver !== undefined && driver !== "bridge") {
      throw new UsageError(`driver "${driver}" is not supported: use bridge`);
    }
    const labels: Record<string, string> = {};
    for (const l of args.list("label")) {
      const eq = l.indexOf("=");
      if (eq === 0) throw new UsageError(`invalid argument "${l}" for "--label" flag: no key`);
      if (eq < 0) labels[l] = "";
      else labels[l.slice(0, eq)] = l.slice(eq + 1);
    }
    // docker's --subnet/--gateway may be given once per family: split them by their form.
    const byFamily = (flag: string) => {
      const out: { v4?: string; v6?: string } = {};
      for (const v of args.list(flag)) {
        const k = v.includes(":") ? "v6" : "v4";
        if (out[k] !== undefined) {
          throw new UsageError(`--${flag} given twice for IP${k}: ${out[k]} and ${v}`);
        }
        out[k] = v;
      }
      return out;
    };
    const subnet = byFamily("subnet");
    const gateway = byFamily("gateway");
    const r = await ctx.client().createNetwork({
      name: args.args[0],
      ...(subnet.v4 !== undefined ? { subnet: subnet.v4 } : {}),
      ...(gateway.v4 !== undefined ? { gateway: gateway.v4 } : {}),
      ...(args.bool("ipv6") ? { enableIPv6: true } : {}),
      ...(subnet.v6 !== undefined ? { subnet6: subnet.v6 } : {}),
      ...(gateway.v6 !== undefined ? { gateway6: gateway.v6 } : {}),
      ...(args.bool("internal") ? { internal: true } : {}),
      ...(Object.keys(labels).length ? { labels } : {}),
    });
    await ctx.io.stdout.write(r.Id + "\n");
    return EXIT_OK;
  },
};

export const networkLsCommand: Command = {
  name: "ls",
  spec: {
    usage: "[OPTIONS]",
    summary: "List networks",
    args: { min: 0, max: 0 },
    flags: [
      { name: "quiet", short: "q", kind: "bool", help: "Only display network IDs" },
      { name: "no-trunc", kind: "bool", help: "Do not truncate the output" },
      { name: "format", kind: "string", help: "Format output: table, json, or a template" },
    ],
  },
  async run(ctx, args) {
    const nets = await ctx.client().listNetworks();
    const noTrunc = args.bool("no-trunc");
    const rows = nets.map((n) => ({
      ID: noTrunc || n.Id.length < 12 ? n.Id : shortId(n.Id),
      Name: n.Name,
      Driver: n.Driver,
      Scope: n.Scope,
      Subnet: n.IPAM.Config[0]?.Subnet ?? "",
      Gateway: n.IPAM.Config[0]?.Gateway ?? "",
      Internal: String(n.Internal),
    }));
    await ctx.io.stdout.write(formatListing(rows, {
      quiet: args.bool("quiet"),
      format: args.string("format"),
      headers: ["NETWORK ID", "NAME", "DRIVER", "SCOPE", "SUBNET"],
      cells: (r) => [r.ID, r.Name, r.Driver, r.Scope, r.Subnet],
    }));
    return EXIT_OK;
  },
};

export const networkInspectCommand: Command = {
  name: "inspect",
  spec: {
    usage: "[OPTIONS] NETWORK [NETWORK...]",
    summary: "Display detailed information on one or more networks",
    args: { min: 1 },
    flags: [{ name: "format", short: "f", kind: "string", help: "Format using a template" }],
  },
  run(ctx, args) {
    return printInspected(ctx, args, (ref) => ctx.client().inspectNetwork(ref));
  },
};

export const networkRmCommand: Command = {
  name: "rm",
  spec: {
    usage: "NETWORK [NETWORK...]",
    summary: "Remove one or more networks",
    args: { min: 1 },
    flags: [],
  },
  run: (ctx, args) =>
    forEachTarget(ctx, args.args, async (ref) => {
      await ctx.client().removeNetwork(ref);
      return ref;
    }),
};

export const networkConnectCommand: Command = {
  name: "connect",
  spec: {
    usage: "[OPTIONS] NETWORK CONTAINER",
    summary: "Connect a container to a network",
    args: { min: 2, max: 2 },
    flags: [
      { name: "ip", kind: "string", arg: "IP", help: "IPv4 address on the network" },
      { name: "ip6", kind: "string", arg: "IP", help: "IPv6 address on the network" },
      { name: "alias", kind: "list", arg: "NAME", help: "Add a network-scoped alias" },
    ],
  },
  async run(ctx, args) {
    const ip = args.string("ip");
    const ip6 = args.string("ip6");
    const aliases = args.list("alias");
    await ctx.client().connectNetwork(args.args[0], args.args[1], {
      ...(ip !== undefined ? { ip } : {}),
      ...(ip6 !== undefined ? { ip6 } : {}),
      ...(aliases.length ? { aliases } : {}),
    });
    return EXIT_OK;
  },
};

export const networkDisconnectCommand: Command = {
  name: "disconnect",
  spec: {
    usage: "[OPTIONS] NETWORK CONTAINER",
    summary: "Disconnect a container from a network",
    args: { min: 2, max: 2 },
    flags: [{
      name: "force",
      short: "f",
      kind: "bool",
      help: "Force the container to disconnect from a network",
    }],
  },
  async run(ctx, args) {
    await ctx.client().disconnectNetwork(args.args[0], args.args[1], args.bool("force"));
    return EXIT_OK;
  },
};

export const networkPruneCommand: Command = {
  name: "prune",
  spec: {
    usage: "[OPTIONS]",
    summary: "Remove all unused networks",
    args: { min: 0, max: 0 },
    flags: [{ name: "force", short: "f", kind: "bool", help: "Do not prompt for confirmation" }],
  },
  async run(ctx, args) {
    if (!args.bool("force")) {
      await ctx.io.stdout.write(
        "WARNING! This will remove all custom networks not used by at least one container.\n" +
          "Are you sure you want to continue? [y/N] ",
      );
      const reader = ctx.io.stdin().getReader();
      const { value } = await reader.read();
      reader.releaseLock();
      const answer = new TextDecoder().decode(value ?? new Uint8Array()).trim().toLowerCase();
      if (answer !== "y" && answer !== "yes") {
        await ctx.io.stdout.write("\n");
        return EXIT_OK;
      }
    }
    const r = await ctx.client().pruneNetworks();
    let text = "";
    if (r.NetworksDeleted.length) {
      text = "Deleted Networks:\n" + r.NetworksDeleted.map((n) => n + "\n").join("");
    }
    await ctx.io.stdout.write(text);
    return EXIT_OK;
  },
};
