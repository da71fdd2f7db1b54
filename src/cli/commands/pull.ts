/**
 * `polis pull`: fetch an image through the daemon, showing per-layer progress — plain
 * lines when stdout is not a terminal, a redrawn block of bars when it is. Credentials
 * come from `polis login`'s config, then docker's (`$DOCKER_CONFIG/config.json` or
 * `~/.docker/config.json`), from their `auths` entries. Also `createPulling`, which `run` and `create` use to pull a
 * missing image as docker does.
 * @module
 */

import { formatBytes, PolisError } from "../../core/mod.ts";
import type { ContainerCreateRequest } from "../../api/mod.ts";
import type { PullImageResult, PullProgress } from "../../engine/types.ts";
import type { CliIO, Output } from "../io.ts";
import { type Command, type CommandContext, EXIT_OK } from "../command.ts";
import { polisConfigDir } from "./login.ts";

/** The registry host of a reference, as docker decides it ("docker.io" when none). */
export function registryHost(ref: string): string {
  const slash = ref.indexOf("/");
  if (slash < 0) return "docker.io";
  const first = ref.slice(0, slash);
  const isHost = /[.:]/.test(first) || first === "localhost" || first !== first.toLowerCase();
  return !isHost || first === "index.docker.io" ? "docker.io" : first;
}

/** Adds docker's default tag when the reference has neither tag nor digest. */
export function withDefaultTag(ref: string): string {
  if (ref.includes("@")) return ref;
  return ref.lastIndexOf(":") > ref.lastIndexOf("/") ? ref : `${ref}:latest`;
}

/** Keys under which a docker config may list a registry's credentials. */
function authKeys(host: string): string[] {
  if (host === "docker.io") {
    return ["https://index.docker.io/v1/", "index.docker.io", "docker.io", "registry-1.docker.io"];
  }
  return [host, `https://${host}`, `http://${host}`, `https://${host}/v1/`, `https://${host}/v2/`];
}

/** Credentials for `host` from docker's config.json, if it lists any. */
export function readCredentials(
  io: Pick<CliIO, "env">,
  host: string,
): { username: string; password: string } | undefined {
  const dirs = [
    polisConfigDir(io),
    io.env("DOCKER_CONFIG"),
    io.env("HOME") && `${io.env("HOME")}/.docker`,
  ];
  for (const dir of dirs) {
    if (!dir) continue;
    let cfg: { auths?: Record<string, { auth?: string; username?: string; password?: string }> };
    try {
      cfg = JSON.parse(Deno.readTextFileSync(`${dir}/config.json`));
    } catch {
      continue;
    }
    for (const key of authKeys(host)) {
      const entry = cfg.auths?.[key];
      if (!entry) continue;
      if (entry.username !== undefined && entry.password !== undefined) {
        return { username: entry.username, password: entry.password };
      }
      if (entry.auth) {
        const text = new TextDecoder().decode(
          Uint8Array.from(atob(entry.auth), (c) => c.charCodeAt(0)),
        );
        const colon = text.indexOf(":");
        if (colon > 0) return { username: text.slice(0, colon), password: text.slice(colon + 1) };
      }
    }
  }
  return undefined;
}

/** Renders progress messages: every status change as a line, or bars redrawn in place. */
export class PullPrinter {
  readonly #order: string[] = [];
  readonly #lines = new Map<string, string>();
  #drawn = 0;

  constructor(private readonly out: Output, private readonly tty: boolean) {}

  async message(p: PullProgress): Promise<void> {
    if (p.id === undefined || /^Pulling from /.test(p.status)) {
      await this.out.write(p.id ? `${p.id}: ${p.status}\n` : `${p.status}\n`);
      if (!/^Pulling from /.test(p.status)) this.#drawn = 0; // later lines start below
      return;
    }
    if (!this.tty) {
      if (p.status !== "Downloading" && p.status !== "Pushing") {
        await this.out.write(`${p.id}: ${p.status}\n`);
      }
      return;
    }
    if (!this.#lines.has(p.id)) this.#order.push(p.id);
    this.#lines.set(p.id, `${p.id}: ${p.status}${bar(p)}`);
    await this.#redraw();
  }

  async #redraw(): Promise<void> {
    let text = this.#drawn > 0 ? `\x1b[${this.#drawn}A` : "";
    for (const id of this.#order) text += `\x1b[2K${this.#lines.get(id)}\n`;
    this.#drawn = this.#order.length;
    await this.out.write(text);
  }
}

function bar(p: PullProgress): string {
  if (p.current === undefined || !p.total) return "";
  const width = 40;
  const done = Math.min(width, Math.floor((p.current / p.total) * width));
  const arrow = done < width ? ">" : "";
  return ` [${"=".repeat(Math.max(0, done - arrow.length))}${arrow}${" ".repeat(width - done)}] ${
    formatBytes(p.current)
  }/${formatBytes(p.total)}`;
}

/** Pulls `ref`, printing progress to `out` unless quiet. */
export async function pullWithProgress(
  ctx: CommandContext,
  ref: string,
  opts: { platform?: string; quiet?: boolean; out: Output; tty: boolean },
): Promise<PullImageResult> {
  const printer = new PullPrinter(opts.out, opts.tty);
  let chain = Promise.resolve();
  const auth = readCredentials(ctx.io, registryHost(ref));
  const result = await ctx.client().pullImage(
    ref,
    { platform: opts.platform, auth },
    (p) => {
      if (!opts.quiet) chain = chain.then(() => printer.message(p));
    },
  );
  await chain;
  return result;
}

/**
 * Creates a container; when its image is missing, says so as docker does, pulls it
 * (progress on stderr) and creates again.
 */
export async function createPulling(
  ctx: CommandContext,
  req: ContainerCreateRequest,
): Promise<{ Id: string; Warnings: string[] }> {
  try {
    return await ctx.client().createContainer(req);
  } catch (err) {
    const missing = err instanceof PolisError && err.code === "not_found" &&
      /^No such image/.test(err.message);
    if (!missing) throw err;
  }
  await ctx.io.stderr.write(`Unable to find image '${withDefaultTag(req.image)}' locally\n`);
  await pullWithProgress(ctx, req.image, { out: ctx.io.stderr, tty: false });
  return await ctx.client().createContainer(req);
}

export const pullCommand: Command = {
  name: "pull",
  spec: {
    usage: "[OPTIONS] NAME[:TAG|@DIGEST]",
    summary: "Download an image from a registry",
    args: { min: 1, max: 1 },
    flags: [
      {
        name: "platform",
        kind: "string",
        arg: "PLATFORM",
        help: "Pull the image for this platform (os/arch[/variant], e.g. linux/arm64)",
      },
      { name: "quiet", short: "q", kind: "bool", help: "Suppress verbose output" },
    ],
  },
  async run(ctx, args) {
    const ref = args.args[0];
    const quiet = args.bool("quiet");
    if (!quiet && withDefaultTag(ref) !== ref) {
      await ctx.io.stdout.write("Using default tag: latest\n");
    }
    const result = await pullWithProgress(ctx, ref, {
      platform: args.string("platform"),
      quiet,
      out: ctx.io.stdout,
      tty: ctx.io.stdoutIsTerminal?.() ?? false,
    });
    await ctx.io.stdout.write(`${result.reference}\n`);
    return EXIT_OK;
  },
};
