/**
 * `polis network firewall add|ls|rm` and `polis container firewall add|ls|rm`: the API's
 * firewall rules (`/v1/networks/{id}/rules`), which belong to a network and optionally to one
 * container on it, and take effect at once, also for running containers. The container verbs
 * are the same rules seen from the container: on its one network, or the one `--network`
 * names.
 * @module
 */

import type { FirewallRuleSpec, FirewallRuleView } from "../../engine/types.ts";
import { type Command, type CommandContext, EXIT_OK } from "../command.ts";
import { type FlagSpec, type ParsedArgs, UsageError } from "../flags.ts";
import { formatListing, shortId } from "../format.ts";
import { withVerbs } from "../subcommands.ts";

export const RULE_FLAGS: FlagSpec[] = [
  {
    name: "direction",
    kind: "string",
    arg: "DIR",
    help: "ingress (traffic to it) or egress (traffic it sends); required",
  },
  { name: "action", kind: "string", arg: "ACTION", help: "allow or deny; required" },
  {
    name: "cidr",
    kind: "string",
    arg: "CIDR",
    help: "The peer's IPv4 or IPv6 address or CIDR (any)",
  },
  { name: "port", kind: "string", arg: "PORT", help: "Destination port (needs tcp or udp)" },
  {
    name: "proto",
    kind: "string",
    arg: "PROTO",
    help: "tcp, udp, icmp or all (tcp with --port, else all)",
  },
];

const LS_FLAGS: FlagSpec[] = [
  { name: "quiet", short: "q", kind: "bool", help: "Only display rule IDs" },
  { name: "format", kind: "string", help: "Format output: table, json, or a template" },
];

/** A rule's fields as typed, before they are checked. */
interface RuleFields {
  direction?: string;
  action?: string;
  cidr?: string;
  port?: string;
  proto?: string;
}

/** What is wrong with one field of a rule (`value` undefined: it is missing). */
class RuleError extends Error {
  constructor(readonly field: keyof RuleFields, readonly value: string | undefined, why: string) {
    super(why);
  }
}

function checkRule(f: RuleFields): FirewallRuleSpec {
  const { direction, action, cidr, port, proto } = f;
  if (direction === undefined) throw new RuleError("direction", undefined, "ingress or egress");
  if (direction !== "ingress" && direction !== "egress") {
    throw new RuleError("direction", direction, "use ingress or egress");
  }
  if (action === undefined) throw new RuleError("action", undefined, "allow or deny");
  if (action !== "allow" && action !== "deny") {
    throw new RuleError("action", action, "use allow or deny");
  }
  const rule: FirewallRuleSpec = { direction, action };
  if (cidr !== undefined) {
    const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?:\/(\d{1,2}))?$/.exec(cidr);
    // IPv6: the shape only; the daemon checks the address itself.
    const m6 = /^[0-9a-fA-F:.]*:[0-9a-fA-F:.]*(?:\/(\d{1,3}))?$/.exec(cidr);
    const v4ok = m && !m.slice(1, 5).some((o) => Number(o) > 255) && Number(m[5] ?? 32) <= 32;
    if (!v4ok && !(m6 && Number(m6[1] ?? 128) <= 128)) {
      throw new RuleError("cidr", cidr, "expected an IPv4 or IPv6 address or CIDR");
    }
    rule.cidr = cidr;
  }
  if (port !== undefined) {
    if (/^\d+-\d+$/.test(port)) {
      throw new RuleError("port", port, "port ranges are not supported, add a rule per port");
    }
    const n = Number(port);
    if (!/^\d+$/.test(port) || n < 1 || n > 65535) {
      throw new RuleError("port", port, "expected 1-65535");
    }
    rule.port = n;
  }
  if (proto !== undefined) {
    if (proto !== "tcp" && proto !== "udp" && proto !== "icmp" && proto !== "all") {
      throw new RuleError("proto", proto, "use tcp, udp, icmp or all");
    }
    if (port !== undefined && proto !== "tcp" && proto !== "udp") {
      throw new RuleError("proto", proto, "a port needs tcp or udp");
    }
    rule.protocol = proto;
  }
  return rule;
}

/** The rule the flags describe, checked here so a mistake is a usage error naming its flag. */
export function ruleFromFlags(args: ParsedArgs): FirewallRuleSpec {
  const f: RuleFields = {};
  for (const k of ["direction", "action", "cidr", "port", "proto"] as const) {
    f[k] = args.string(k);
  }
  try {
    return checkRule(f);
  } catch (e) {
    if (!(e instanceof RuleError)) throw e;
    if (e.value === undefined) {
      throw new UsageError(`flag "--${e.field}" is required: ${e.message}`);
    }
    throw new UsageError(`invalid argument "${e.value}" for "--${e.field}" flag: ${e.message}`);
  }
}

/**
 * One `--firewall` value of run/create: comma-separated `ingress|egress`, `allow|deny` and
 * `cidr=`, `port=`, `proto=` (also `direction=`, `action=`), e.g.
 * `egress,deny,cidr=10.1.0.0/16,proto=tcp,port=80`.
 */
export function parseFirewallFlag(raw: string): FirewallRuleSpec {
  const f: RuleFields = {};
  const fail = (why: string) =>
    new UsageError(`invalid argument "${raw}" for "--firewall" flag: ${why}`);
  for (const part of raw.split(",").map((p) => p.trim()).filter(Boolean)) {
    const eq = part.indexOf("=");
    const [key, value] = eq < 0
      ? [part === "ingress" || part === "egress" ? "direction" : "action", part]
      : [part.slice(0, eq), part.slice(eq + 1)];
    if (eq < 0 && part !== "allow" && part !== "deny" && key === "action") {
      throw fail(`unknown word "${part}"`);
    }
    if (!["direction", "action", "cidr", "port", "proto"].includes(key)) {
      throw fail(`unknown key "${key}"`);
    }
    if (f[key as keyof RuleFields] !== undefined) throw fail(`${key} given twice`);
    f[key as keyof RuleFields] = value;
  }
  try {
    return checkRule(f);
  } catch (e) {
    if (!(e instanceof RuleError)) throw e;
    throw fail(
      e.value === undefined ? `${e.field} is required (${e.message})` : `${e.field}: ${e.message}`,
    );
  }
}

interface Row {
  ID: string;
  Network?: string;
  Container: string;
  Direction: string;
  Action: string;
  Protocol: string;
  Port: string;
  CIDR: string;
}

function row(r: FirewallRuleView, network?: string): Row {
  return {
    ID: r.Id,
    ...(network !== undefined ? { Network: network } : {}),
    Container: r.containerId ? shortId(r.containerId) : "",
    Direction: r.direction,
    Action: r.action,
    Protocol: r.protocol ?? "all",
    Port: r.port !== undefined ? String(r.port) : "",
    CIDR: r.cidr ?? "",
  };
}

async function printRules(ctx: CommandContext, args: ParsedArgs, rows: Row[]): Promise<void> {
  const withNet = rows.some((r) => r.Network !== undefined);
  await ctx.io.stdout.write(formatListing(rows, {
    quiet: args.bool("quiet"),
    format: args.string("format"),
    headers: [
      "RULE ID",
      ...(withNet ? ["NETWORK"] : []),
      "CONTAINER",
      "DIRECTION",
      "ACTION",
      "PROTOCOL",
      "PORT",
      "CIDR",
    ],
    cells: (r) => [
      r.ID,
      ...(withNet ? [r.Network ?? ""] : []),
      r.Container || "-",
      r.Direction,
      r.Action,
      r.Protocol,
      r.Port || "any",
      r.CIDR || "any",
    ],
  }));
}

/** A rule with the network it belongs to. */
type PlacedRule = FirewallRuleView & { network: string };

/** The one rule whose id starts with `ref` (ids are long; a unique prefix is enough). */
function pickRule(rules: PlacedRule[], ref: string, where: string): PlacedRule {
  const exact = rules.find((r) => r.Id === ref);
  if (exact) return exact;
  const found = rules.filter((r) => r.Id.startsWith(ref));
  if (found.length === 1) return found[0];
  if (found.length > 1) throw new Error(`rule id prefix ${ref} is ambiguous on ${where}`);
  throw new Error(`${where} has no firewall rule ${ref}`);
}

/** How the network and the container verbs differ: what they act on and how they find rules. */
interface Scope {
  /** The operand in usage lines: NETWORK or CONTAINER. */
  operand: string;
  /** "network" or "container", for messages. */
  noun: string;
  /** The flag that narrows `add` (--container on a network, --network for a container). */
  addFlag: FlagSpec;
  /** Where `add` puts the rule, from the operand and `addFlag`'s value. */
  target(
    ctx: CommandContext,
    ref: string,
    flag: string | undefined,
  ): Promise<{ network: string; container?: string }>;
  /** The rules this operand has, in evaluation order. */
  rules(ctx: CommandContext, ref: string): Promise<PlacedRule[]>;
  /** Whether `ls` shows each rule's network. */
  showNetwork: boolean;
}

function addVerb(scope: Scope, summary: string): Command {
  return {
    name: "add",
    spec: {
      usage: `[OPTIONS] ${scope.operand}`,
      summary,
      args: { min: 1, max: 1 },
      flags: [...RULE_FLAGS, scope.addFlag],
    },
    async run(ctx, args) {
      const rule = ruleFromFlags(args);
      const { network, container } = await scope.target(
        ctx,
        args.args[0],
        args.string(scope.addFlag.name),
      );
      const r = await ctx.client().addFirewallRule(network, {
        ...rule,
        ...(container !== undefined ? { container } : {}),
      });
      await ctx.io.stdout.write(r.Id + "\n");
      return EXIT_OK;
    },
  };
}

function lsVerb(scope: Scope, summary: string): Command {
  return {
    name: "ls",
    spec: {
      usage: `[OPTIONS] ${scope.operand}`,
      summary,
      args: { min: 1, max: 1 },
      flags: LS_FLAGS,
    },
    async run(ctx, args) {
      const rules = await scope.rules(ctx, args.args[0]);
      await printRules(
        ctx,
        args,
        rules.map((r) => row(r, scope.showNetwork ? r.network : undefined)),
      );
      return EXIT_OK;
    },
  };
}

function rmVerb(scope: Scope, summary: string): Command {
  return {
    name: "rm",
    spec: { usage: `${scope.operand} RULE [RULE...]`, summary, args: { min: 2 }, flags: [] },
    async run(ctx, args) {
      const [ref, ...ruleRefs] = args.args;
      const rules = await scope.rules(ctx, ref);
      // Every reference is resolved before any rule goes, so a typo removes nothing.
      const picked = ruleRefs.map((r) => pickRule(rules, r, `${scope.noun} ${ref}`));
      for (const r of picked) {
        await ctx.client().deleteFirewallRule(r.network, r.Id);
        await ctx.io.stdout.write(r.Id + "\n");
      }
      return EXIT_OK;
    },
  };
}

function firewallCommand(
  scope: Scope,
  summary: string,
  verbs: Record<"add" | "ls" | "rm", string>,
) {
  return withVerbs("firewall", summary, [
    { names: ["add"], command: addVerb(scope, verbs.add) },
    { names: ["ls", "list"], command: lsVerb(scope, verbs.ls) },
    { names: ["rm", "remove"], command: rmVerb(scope, verbs.rm) },
  ]);
}

// ---- network firewall ----------------------------------------------------------------------

const networkScope: Scope = {
  operand: "NETWORK",
  noun: "network",
  addFlag: {
    name: "container",
    kind: "string",
    arg: "CONTAINER",
    help: "Only for this container on the network",
  },
  target: (_ctx, network, container) => Promise.resolve({ network, container }),
  async rules(ctx, network) {
    return (await ctx.client().listFirewallRules(network)).map((r) => ({ ...r, network }));
  },
  showNetwork: false,
};

export const networkFirewallCommand: Command = firewallCommand(
  networkScope,
  "Manage a network's firewall rules",
  {
    add: "Add a firewall rule to a network, or to one container on it (enforced at once)",
    ls: "List a network's firewall rules, in evaluation order",
    rm: "Remove firewall rules from a network",
  },
);

// ---- container firewall --------------------------------------------------------------------

/** The container's id and the bridge networks it is on. */
async function containerNetworks(
  ctx: CommandContext,
  ref: string,
): Promise<{ id: string; networks: string[] }> {
  const c = await ctx.client().inspectContainer(ref);
  const nets = c.NetworkSettings.Networks as Record<string, { NetworkID?: string }>;
  return { id: c.Id, networks: Object.keys(nets).filter((n) => nets[n].NetworkID) };
}

const containerScope: Scope = {
  operand: "CONTAINER",
  noun: "container",
  addFlag: {
    name: "network",
    kind: "string",
    arg: "NETWORK",
    help: "The network the rule is on (needed when the container is on several)",
  },
  async target(ctx, ref, network) {
    if (network !== undefined) return { network, container: ref };
    const { networks } = await containerNetworks(ctx, ref);
    if (networks.length === 0) {
      throw new Error(
        `container ${ref} is on no bridge network: connect it first (polis network connect)`,
      );
    }
    if (networks.length > 1) {
      throw new Error(
        `container ${ref} is on networks ${networks.join(", ")}: choose one with --network`,
      );
    }
    return { network: networks[0], container: ref };
  },
  async rules(ctx, ref) {
    const { id, networks } = await containerNetworks(ctx, ref);
    const rules: PlacedRule[] = [];
    for (const network of networks) {
      for (const r of await ctx.client().listFirewallRules(network)) {
        if (r.containerId === id) rules.push({ ...r, network });
      }
    }
    return rules;
  },
  showNetwork: true,
};

export const containerFirewallCommand: Command = firewallCommand(
  containerScope,
  "Manage a container's firewall rules",
  {
    add: "Add a firewall rule for a container on its network (enforced at once)",
    ls: "List a container's firewall rules on its networks",
    rm: "Remove firewall rules of a container",
  },
);
