/**
 * The options `run` and `create` share, and their translation into a create request:
 * env files and `-e KEY` read from the client's environment, labels, limits parsed here
 * so a bad value is a usage error naming its flag.
 * @module
 */

import { parseCpus, parseMemory } from "../../core/mod.ts";
import type { ContainerCreateRequest } from "../client.ts";
import { flagLabel, type FlagSpec, type ParsedArgs, UsageError } from "../flags.ts";
import type { CliIO } from "../io.ts";
import { parseFirewallFlag } from "./firewall.ts";

export const CONTAINER_FLAGS: FlagSpec[] = [
  { name: "name", kind: "string", help: "Assign a name to the container" },
  { name: "env", short: "e", kind: "list", help: "Set environment variables (KEY=VALUE or KEY)" },
  { name: "env-file", kind: "list", arg: "FILE", help: "Read in a file of environment variables" },
  {
    name: "workdir",
    short: "w",
    kind: "string",
    arg: "DIR",
    help: "Working directory inside the container",
  },
  {
    name: "user",
    short: "u",
    kind: "string",
    help: "Username or UID (format: <name|uid>[:<group|gid>])",
  },
  { name: "hostname", short: "h", kind: "string", help: "Container host name" },
  {
    name: "entrypoint",
    kind: "string",
    arg: "CMD",
    help: 'Overwrite the default ENTRYPOINT of the image ("" resets it)',
  },
  { name: "memory", short: "m", kind: "string", arg: "SIZE", help: "Memory limit (e.g. 32m, 1g)" },
  { name: "cpus", kind: "string", arg: "N", help: "Number of CPUs (e.g. 0.5)" },
  { name: "pids-limit", kind: "int", help: "Tune container pids limit (-1 for unlimited)" },
  { name: "label", short: "l", kind: "list", help: "Set meta data on a container (KEY=VALUE)" },
  { name: "rm", kind: "bool", help: "Automatically remove the container when it exits" },
  {
    name: "network",
    kind: "string",
    arg: "NETWORK",
    help:
      'Connect to a network: "none" (default, only lo), "host", "bridge", a network name, or container:NAME',
  },
  { name: "ip", kind: "string", arg: "IP", help: "IPv4 address on a user-defined network" },
  { name: "ip6", kind: "string", arg: "IP", help: "IPv6 address on a dual-stack network" },
  {
    name: "publish",
    short: "p",
    kind: "list",
    arg: "PORT",
    help: "Publish a port: [hostIP:]hostPort:containerPort[/tcp|udp]",
  },
  {
    name: "publish-all",
    short: "P",
    kind: "bool",
    help: "Publish all exposed ports to random host ports",
  },
  { name: "dns", kind: "list", arg: "IP", help: "Set custom DNS servers" },
  { name: "add-host", kind: "list", arg: "HOST:IP", help: "Add a custom host-to-IP mapping" },
  {
    name: "network-alias",
    kind: "list",
    arg: "NAME",
    help: "Add a network-scoped alias for the container",
  },
  {
    name: "firewall",
    kind: "list",
    arg: "RULE",
    help:
      "Add a firewall rule on its networks: egress|ingress,allow|deny[,cidr=C][,proto=P][,port=N]",
  },
];

const ENV_NAME = /^[^=\s]+$/;

function networkMode(v: string | undefined): string | undefined {
  if (v === undefined) return undefined;
  if (v === "") throw new UsageError(`invalid argument "" for "--network" flag: empty name`);
  return v;
}

/** Parses an env file: KEY=VALUE lines, `#` comments, and bare KEY taken from `env`. */
export function parseEnvFile(
  text: string,
  file: string,
  env: (name: string) => string | undefined,
): string[] {
  const out: string[] = [];
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trimStart();
    if (line === "" || line.startsWith("#")) continue;
    const eq = line.indexOf("=");
    const key = eq < 0 ? line.trimEnd() : line.slice(0, eq);
    if (!ENV_NAME.test(key)) {
      throw new UsageError(`${file}:${i + 1}: invalid variable name "${key}"`);
    }
    if (eq >= 0) out.push(line);
    else {
      const value = env(key);
      if (value !== undefined) out.push(`${key}=${value}`);
    }
  }
  return out;
}

function envEntry(entry: string, env: (name: string) => string | undefined): string | undefined {
  const eq = entry.indexOf("=");
  if (eq === 0) throw new UsageError(`invalid argument "${entry}" for "-e, --env" flag: no name`);
  if (eq > 0) return entry;
  const value = env(entry);
  return value === undefined ? undefined : `${entry}=${value}`;
}

function flagValue<T>(args: ParsedArgs, name: string, parse: (v: string) => T): T | undefined {
  const raw = args.string(name);
  if (raw === undefined) return undefined;
  try {
    return parse(raw);
  } catch (err) {
    const flag = CONTAINER_FLAGS.find((f) => f.name === name)!;
    const why = err instanceof Error ? err.message : String(err);
    throw new UsageError(`invalid argument "${raw}" for "${flagLabel(flag)}" flag: ${why}`);
  }
}

/** Builds the create request from parsed `run`/`create` arguments (image first). */
export async function createRequest(args: ParsedArgs, io: CliIO): Promise<ContainerCreateRequest> {
  const [image, ...cmd] = args.args;
  const env: string[] = [];
  for (const file of args.list("env-file")) {
    let text: string;
    try {
      text = await Deno.readTextFile(file);
    } catch (err) {
      throw new UsageError(`open ${file}: ${err instanceof Error ? err.message : err}`);
    }
    env.push(...parseEnvFile(text, file, io.env));
  }
  for (const e of args.list("env")) {
    const entry = envEntry(e, io.env);
    if (entry !== undefined) env.push(entry);
  }
  const labels: Record<string, string> = {};
  for (const l of args.list("label")) {
    const eq = l.indexOf("=");
    if (eq === 0) throw new UsageError(`invalid argument "${l}" for "-l, --label" flag: no key`);
    if (eq < 0) labels[l] = "";
    else labels[l.slice(0, eq)] = l.slice(eq + 1);
  }
  const entrypoint = args.string("entrypoint");
  const req: ContainerCreateRequest = {
    image,
    name: args.string("name"),
    cmd: cmd.length > 0 ? cmd : undefined,
    entrypoint: entrypoint === undefined ? undefined : entrypoint === "" ? [] : [entrypoint],
    env: env.length > 0 ? env : undefined,
    workingDir: args.string("workdir"),
    user: args.string("user"),
    hostname: args.string("hostname"),
    labels: Object.keys(labels).length > 0 ? labels : undefined,
    memory: flagValue(args, "memory", parseMemory),
    nanoCpus: flagValue(args, "cpus", parseCpus),
    pidsLimit: args.int("pids-limit"),
    autoRemove: args.bool("rm") || undefined,
    networkMode: networkMode(args.string("network")),
    ip: args.string("ip"),
    ip6: args.string("ip6"),
    publish: args.list("publish").length ? args.list("publish") : undefined,
    publishAll: args.bool("publish-all") || undefined,
    dns: args.list("dns").length ? args.list("dns") : undefined,
    addHosts: args.list("add-host").length ? args.list("add-host") : undefined,
    networkAliases: args.list("network-alias").length ? args.list("network-alias") : undefined,
    firewall: args.list("firewall").length
      ? args.list("firewall").map(parseFirewallFlag)
      : undefined,
  };
  // Leave unset options out of the request, so the daemon applies the image's defaults.
  for (const key of Object.keys(req) as (keyof ContainerCreateRequest)[]) {
    if (req[key] === undefined) delete req[key];
  }
  return req;
}
