/**
 * `polis login` and `polis logout`: credentials checked against the registry, then kept
 * in Polis's own config (`$POLIS_CONFIG/config.json`, default `~/.polis/config.json`,
 * mode 0600, docker's `auths` format) which `pull` reads before docker's config.
 * @module
 */

import { writeFileAtomicSync } from "../../core/mod.ts";
import type { CliIO } from "../io.ts";
import { type Command, EXIT_OK } from "../command.ts";
import { UsageError } from "../flags.ts";

/** The directory of Polis's client config, or undefined when neither env var is set. */
export function polisConfigDir(io: Pick<CliIO, "env">): string | undefined {
  return io.env("POLIS_CONFIG") ?? (io.env("HOME") ? `${io.env("HOME")}/.polis` : undefined);
}

/** docker's key for a registry in `auths`. */
export function authKey(host: string): string {
  return host === "docker.io" ? "https://index.docker.io/v1/" : host;
}

type Config = { auths?: Record<string, { auth?: string }> } & Record<string, unknown>;

function readConfig(path: string): Config {
  try {
    return JSON.parse(Deno.readTextFileSync(path)) as Config;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return {};
    throw new UsageError(`cannot read ${path}: ${(e as Error).message}`);
  }
}

function configPath(io: Pick<CliIO, "env">): string {
  const dir = polisConfigDir(io);
  if (!dir) throw new UsageError("cannot find a config dir: set HOME or POLIS_CONFIG");
  return `${dir}/config.json`;
}

function normalizeServer(arg: string | undefined): string {
  if (arg === undefined) return "docker.io";
  const host = arg.replace(/^https?:\/\//, "").replace(/\/.*$/, "");
  return host === "index.docker.io" || host === "registry-1.docker.io" ? "docker.io" : host;
}

async function readAll(stream: ReadableStream<Uint8Array>): Promise<string> {
  let text = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) text += chunk;
  return text;
}

export const loginCommand: Command = {
  name: "login",
  spec: {
    usage: "[OPTIONS] [SERVER]",
    summary: "Log in to a registry (default docker.io)",
    args: { min: 0, max: 1 },
    flags: [
      { name: "username", short: "u", kind: "string", arg: "USER", help: "Username" },
      { name: "password", short: "p", kind: "string", arg: "PASS", help: "Password" },
      { name: "password-stdin", kind: "bool", help: "Take the password from stdin" },
    ],
  },
  async run(ctx, args) {
    const host = normalizeServer(args.args[0]);
    const username = args.string("username");
    let password = args.string("password");
    if (args.bool("password-stdin")) {
      if (password !== undefined) throw new UsageError("--password and --password-stdin");
      password = (await readAll(ctx.io.stdin())).replace(/\r?\n$/, "");
    }
    if (!username || password === undefined) {
      throw new UsageError("login needs --username and --password or --password-stdin");
    }
    if (args.string("password") !== undefined) {
      await ctx.io.stderr.write(
        "WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n",
      );
    }
    // The daemon checks them, as it will use them: with its insecure registries, mirrors
    // and offline rule (and the CLI needs no registry client of its own).
    await ctx.client().login(host, { username, password });
    const path = configPath(ctx.io);
    Deno.mkdirSync(path.slice(0, path.lastIndexOf("/")), { recursive: true, mode: 0o700 });
    const cfg = readConfig(path);
    cfg.auths = { ...cfg.auths, [authKey(host)]: { auth: btoa(`${username}:${password}`) } };
    writeFileAtomicSync(path, JSON.stringify(cfg, null, "\t") + "\n", 0o600);
    await ctx.io.stdout.write("Login Succeeded\n");
    return EXIT_OK;
  },
};

export const logoutCommand: Command = {
  name: "logout",
  spec: {
    usage: "[SERVER]",
    summary: "Log out from a registry (default docker.io)",
    args: { min: 0, max: 1 },
    flags: [],
  },
  async run(ctx, args) {
    const host = normalizeServer(args.args[0]);
    const path = configPath(ctx.io);
    const cfg = readConfig(path);
    if (!cfg.auths?.[authKey(host)]) {
      await ctx.io.stdout.write(`Not logged in to ${host}\n`);
      return EXIT_OK;
    }
    delete cfg.auths[authKey(host)];
    writeFileAtomicSync(path, JSON.stringify(cfg, null, "\t") + "\n", 0o600);
    await ctx.io.stdout.write(`Removing login credentials for ${host}\n`);
    return EXIT_OK;
  },
};
