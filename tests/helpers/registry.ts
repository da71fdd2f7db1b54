/**
 * A real distribution registry (Debian's `docker-registry`) on 127.0.0.1 with a temp
 * storage dir, images pushed into it with skopeo (an independent client), optional
 * htpasswd Basic auth or Bearer token auth (a token server of our own that signs RS256
 * JWTs with a key whose self-signed certificate the registry trusts), and a throttling
 * TCP proxy in front of it that counts requests, so tests can interrupt a pull at a
 * chosen byte. Everything stops in `stop()`.
 * @module
 */

import bcrypt from "bcryptjs";
import { Buffer } from "node:buffer";
import { createPrivateKey, randomUUID, sign, X509Certificate } from "node:crypto";

export const REGISTRY_BIN = "/usr/bin/docker-registry";
export const hasRegistry = (() => {
  try {
    return Deno.statSync(REGISTRY_BIN).isFile;
  } catch {
    return false;
  }
})();

async function run(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(
      `${cmd} ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr).trim()}`,
    );
  }
  return new TextDecoder().decode(out.stdout);
}

/** A port nobody listens on right now. */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

export interface RegistryOptions {
  /**
   * Require Basic auth with these credentials (htpasswd, bcrypt); with `token`, the
   * credentials the token server accepts instead.
   */
  user?: { username: string; password: string };
  /** Bearer token auth through a `TokenServer` started with the registry. */
  token?: TokenServerOptions;
}

export interface TokenServerOptions {
  /** Seconds a token lives, as the server tells clients (default 300). */
  expiresIn?: number;
  /** Whether a request without credentials gets pull access (default true). */
  anonymousPull?: boolean;
}

/** One request the token server answered. */
export interface TokenRequest {
  scopes: string[];
  account?: string;
  /** The Basic user it authenticated, if any. */
  user?: string;
  status: number;
}

/**
 * A token server for the registry's `auth: token:` scheme: `GET /token?service=&scope=`
 * (scope repeatable, `repository:NAME:pull,push`), optionally with Basic credentials.
 * It signs an RS256 JWT whose header carries its certificate (`x5c`), which the registry
 * checks against its `rootcertbundle`. The user gets pull and push on what they ask;
 * anonymous requests get pull only (or nothing); wrong credentials get a 401.
 */
export class TokenServer {
  readonly service = "polis-test-registry";
  readonly issuer = "polis-test-token-issuer";
  readonly requests: TokenRequest[] = [];
  readonly certPath: string;
  /** Both may change while the server runs. */
  expiresIn: number;
  anonymousPull: boolean;
  #key?: ReturnType<typeof createPrivateKey>;
  #x5c = "";
  #server?: Deno.HttpServer<Deno.NetAddr>;
  port = 0;

  constructor(
    readonly dir: string,
    readonly user?: { username: string; password: string },
    readonly opts: TokenServerOptions = {},
  ) {
    this.certPath = `${dir}/token.crt`;
    this.expiresIn = opts.expiresIn ?? 300;
    this.anonymousPull = opts.anonymousPull ?? true;
  }

  get realm(): string {
    return `http://127.0.0.1:${this.port}/token`;
  }

  async start(): Promise<void> {
    if (this.#server) return;
    await run("openssl", [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      `${this.dir}/token.key`,
      "-out",
      this.certPath,
      "-days",
      "2",
      "-subj",
      "/CN=polis-test-token-issuer",
    ]);
    this.#key = createPrivateKey(Deno.readTextFileSync(`${this.dir}/token.key`));
    this.#x5c = Buffer.from(new X509Certificate(Deno.readTextFileSync(this.certPath)).raw)
      .toString("base64");
    this.#server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      (req) => this.#handle(req),
    );
    this.port = this.#server.addr.port;
  }

  #handle(req: Request): Response {
    const url = new URL(req.url);
    const scopes = url.searchParams.getAll("scope").flatMap((s) => s.split(" ")).filter(Boolean);
    const record: TokenRequest = {
      scopes,
      account: url.searchParams.get("account") ?? undefined,
      status: 200,
    };
    this.requests.push(record);
    const authz = req.headers.get("authorization") ?? "";
    let user: string | undefined;
    if (authz.startsWith("Basic ")) {
      const text = atob(authz.slice(6));
      const colon = text.indexOf(":");
      const [u, p] = [text.slice(0, colon), text.slice(colon + 1)];
      if (!this.user || u !== this.user.username || p !== this.user.password) {
        record.status = 401;
        return Response.json(
          { errors: [{ code: "UNAUTHORIZED", message: "wrong username or password" }] },
          { status: 401, headers: { "www-authenticate": 'Basic realm="polis-test-token"' } },
        );
      }
      user = u;
      record.user = u;
    }
    if (url.searchParams.get("service") !== this.service) {
      record.status = 400;
      return Response.json({ errors: [{ code: "DENIED", message: "unknown service" }] }, {
        status: 400,
      });
    }
    const access = scopes.map((s) => {
      const [type, name, actions] = s.split(":");
      const asked = (actions ?? "").split(",");
      const allowed = user ? asked : this.anonymousPull ? ["pull"] : [];
      return { type, name, actions: asked.filter((a) => allowed.includes(a)) };
    });
    const now = Math.floor(Date.now() / 1000);
    const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");
    const head = enc({ typ: "JWT", alg: "RS256", x5c: [this.#x5c] });
    const claims = enc({
      iss: this.issuer,
      sub: user ?? "",
      aud: this.service,
      exp: now + this.expiresIn,
      nbf: now - 1,
      iat: now,
      jti: randomUUID(),
      access,
    });
    const sig = sign("RSA-SHA256", Buffer.from(`${head}.${claims}`), this.#key!)
      .toString("base64url");
    const token = `${head}.${claims}.${sig}`;
    return Response.json({
      token,
      access_token: token,
      expires_in: this.expiresIn,
      issued_at: new Date(now * 1000).toISOString(),
    });
  }

  /** The registry's `auth:` section. */
  config(): string {
    return `auth:\n  token:\n    realm: ${this.realm}\n    service: ${this.service}\n` +
      `    issuer: ${this.issuer}\n    rootcertbundle: ${this.certPath}\n`;
  }

  async stop(): Promise<void> {
    await this.#server?.shutdown();
    this.#server = undefined;
  }
}

export class TestRegistry {
  readonly dir: string;
  readonly storage: string;
  readonly port: number;
  /** The token server, when the registry uses token auth. */
  readonly tokens?: TokenServer;
  #child?: Deno.ChildProcess;

  constructor(readonly opts: RegistryOptions = {}) {
    this.dir = Deno.makeTempDirSync({ prefix: "polis-registry-" });
    this.storage = `${this.dir}/storage`;
    this.port = freePort();
    if (opts.token) this.tokens = new TokenServer(this.dir, opts.user, opts.token);
  }

  /** "127.0.0.1:PORT" */
  get host(): string {
    return `127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    Deno.mkdirSync(this.storage, { recursive: true });
    let auth = "";
    if (this.tokens) {
      await this.tokens.start();
      auth = this.tokens.config();
    } else if (this.opts.user) {
      const hash = bcrypt.hashSync(this.opts.user.password, 5);
      Deno.writeTextFileSync(`${this.dir}/htpasswd`, `${this.opts.user.username}:${hash}\n`);
      auth = `auth:\n  htpasswd:\n    realm: polis-test\n    path: ${this.dir}/htpasswd\n`;
    }
    Deno.writeTextFileSync(
      `${this.dir}/config.yml`,
      `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n` +
        `storage:\n  filesystem:\n    rootdirectory: ${this.storage}\n  delete:\n    enabled: true\n` +
        `http:\n  addr: 127.0.0.1:${this.port}\n` + auth,
    );
    this.#child = new Deno.Command(REGISTRY_BIN, {
      args: ["serve", `${this.dir}/config.yml`],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    void this.#child.stderr.pipeTo(
      Deno.openSync(`${this.dir}/registry.log`, { create: true, append: true }).writable,
    ).catch(() => {});
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      try {
        const res = await fetch(`http://${this.host}/v2/`);
        await res.body?.cancel();
        if (res.status === 200 || res.status === 401) return;
      } catch {
        // not up yet
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`registry did not come up: ${this.log()}`);
  }

  log(): string {
    try {
      return Deno.readTextFileSync(`${this.dir}/registry.log`).slice(-2000);
    } catch {
      return "";
    }
  }

  /** Stops the registry process (storage stays; `start()` serves it again on the same port). */
  async kill(): Promise<void> {
    const c = this.#child;
    this.#child = undefined;
    if (!c) return;
    try {
      c.kill("SIGKILL");
    } catch {
      // already gone
    }
    await c.status;
  }

  /** Pushes `oci:<dir>:<tag>` to `repo:tag` here with skopeo (`all`: every platform). */
  async push(ociRef: string, target: string, all = false): Promise<void> {
    const creds = this.opts.user
      ? ["--dest-creds", `${this.opts.user.username}:${this.opts.user.password}`]
      : [];
    await run("skopeo", [
      "--insecure-policy",
      "copy",
      "--quiet",
      "--dest-tls-verify=false",
      ...(all ? ["--all"] : []),
      ...creds,
      ociRef,
      `docker://${this.host}/${target}`,
    ]);
  }

  /** The manifest digest `repo:tag` has here. */
  async digest(target: string): Promise<string> {
    const creds = this.opts.user
      ? ["--creds", `${this.opts.user.username}:${this.opts.user.password}`]
      : [];
    return (await run("skopeo", [
      "inspect",
      "--tls-verify=false",
      "--format",
      "{{.Digest}}",
      ...creds,
      `docker://${this.host}/${target}`,
    ])).trim();
  }

  /** Path of a blob's data file in the registry's storage. */
  blobPath(digest: string): string {
    const hex = digest.slice("sha256:".length);
    return `${this.storage}/docker/registry/v2/blobs/sha256/${hex.slice(0, 2)}/${hex}/data`;
  }

  async stop(): Promise<void> {
    await this.kill();
    await this.tokens?.stop();
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}

/**
 * A TCP proxy to the registry that logs each request line (with its Range) and can
 * slow responses down to `bytesPerSecond`, so a test can act mid-transfer.
 */
export class ThrottleProxy {
  readonly port: number;
  readonly requests: string[] = [];
  bytes = 0;
  bytesPerSecond = Infinity;
  readonly #listener: Deno.TcpListener;
  readonly #conns = new Set<Deno.TcpConn>();
  readonly #done: Promise<void>;

  constructor(readonly target: number) {
    this.#listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.port = (this.#listener.addr as Deno.NetAddr).port;
    this.#done = this.#accept();
  }

  get host(): string {
    return `127.0.0.1:${this.port}`;
  }

  async #accept(): Promise<void> {
    for await (const conn of this.#listener) void this.#serve(conn);
  }

  async #serve(client: Deno.TcpConn): Promise<void> {
    this.#conns.add(client);
    let upstream: Deno.TcpConn | undefined;
    try {
      upstream = await Deno.connect({ hostname: "127.0.0.1", port: this.target });
      this.#conns.add(upstream);
      const up = upstream;
      const dec = new TextDecoder();
      const toUp = (async () => {
        for await (const chunk of client.readable.values({ preventCancel: true })) {
          const text = dec.decode(chunk);
          const line = /^(GET|HEAD|PUT|POST|PATCH|DELETE) (\S+)/m.exec(text);
          if (line) {
            const range = /^range: *(.*)$/im.exec(text)?.[1]?.trim();
            this.requests.push(`${line[1]} ${line[2]}${range ? ` ${range}` : ""}`);
          }
          await writeAll(up, chunk);
        }
      })();
      const toClient = (async () => {
        for await (const chunk of up.readable.values({ preventCancel: true })) {
          for (let off = 0; off < chunk.byteLength; off += 16384) {
            const part = chunk.subarray(off, off + 16384);
            if (this.bytesPerSecond !== Infinity) {
              await new Promise((r) =>
                setTimeout(r, (part.byteLength / this.bytesPerSecond) * 1000)
              );
            }
            this.bytes += part.byteLength;
            await writeAll(client, part);
          }
        }
      })();
      await Promise.race([toUp, toClient]).catch(() => {});
    } catch {
      // a side went away
    } finally {
      for (const c of [client, upstream]) {
        if (!c) continue;
        this.#conns.delete(c);
        try {
          c.close();
        } catch {
          // closed
        }
      }
    }
  }

  /** Breaks every open connection (as a registry that dies would). */
  dropAll(): void {
    for (const c of this.#conns) {
      try {
        c.close();
      } catch {
        // closed
      }
    }
    this.#conns.clear();
  }

  async close(): Promise<void> {
    this.#listener.close();
    this.dropAll();
    await this.#done.catch(() => {});
  }
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.byteLength) off += await conn.write(bytes.subarray(off));
}

/**
 * Adds a layer of `size` random (incompressible) bytes on top of busybox in the OCI
 * layout, tagged `tag`, so a pull takes long enough to interrupt. Returns the layer dir.
 */
export async function addBigLayer(ociDir: string, tag: string, size: number): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "polis-biglayer-" });
  try {
    const data = new Uint8Array(size);
    for (let off = 0; off < size; off += 65536) {
      crypto.getRandomValues(data.subarray(off, Math.min(size, off + 65536)));
    }
    await Deno.mkdir(`${dir}/rootfs/data`, { recursive: true });
    await Deno.writeFile(`${dir}/rootfs/data/blob.bin`, data);
    await run("tar", ["-C", `${dir}/rootfs`, "-cf", `${dir}/layer.tar`, "data"]);
    await run("umoci", ["config", "--image", `${ociDir}:busybox:latest`, "--tag", tag]);
    await run("umoci", ["raw", "add-layer", "--image", `${ociDir}:${tag}`, `${dir}/layer.tar`]);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/**
 * Adds a multi-platform image index to the OCI layout under `tag`: busybox as
 * linux/amd64, and copies of it whose configs say linux/arm64/v8 and linux/arm/v7 (with
 * a distinct Cmd each, so a test can tell them apart). Push it with `--all`.
 */
export async function addMultiPlatformIndex(ociDir: string, tag: string): Promise<void> {
  const variants = [
    { tag: `${tag}-amd64`, arch: "amd64", variant: undefined, cmd: "amd64" },
    { tag: `${tag}-arm64`, arch: "arm64", variant: "v8", cmd: "arm64" },
    { tag: `${tag}-armv7`, arch: "arm", variant: "v7", cmd: "armv7" },
  ];
  const manifests = [];
  for (const v of variants) {
    await run("umoci", [
      "config",
      "--image",
      `${ociDir}:busybox:latest`,
      "--tag",
      v.tag,
      "--architecture",
      v.arch,
      "--clear=config.cmd",
      "--config.cmd",
      "echo",
      "--config.cmd",
      v.cmd,
    ]);
    const index = JSON.parse(Deno.readTextFileSync(`${ociDir}/index.json`));
    const d = index.manifests.find((m: { annotations?: Record<string, string> }) =>
      m.annotations?.["org.opencontainers.image.ref.name"] === v.tag
    );
    const platform: Record<string, string> = { os: "linux", architecture: v.arch };
    if (v.variant) platform.variant = v.variant;
    manifests.push({ mediaType: d.mediaType, digest: d.digest, size: d.size, platform });
  }
  const body = new TextEncoder().encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.index.v1+json",
    manifests,
  }));
  const hash = await crypto.subtle.digest("SHA-256", body);
  const hex = Array.from(new Uint8Array(hash), (b) => b.toString(16).padStart(2, "0")).join("");
  Deno.writeFileSync(`${ociDir}/blobs/sha256/${hex}`, body);
  const index = JSON.parse(Deno.readTextFileSync(`${ociDir}/index.json`));
  index.manifests.push({
    mediaType: "application/vnd.oci.image.index.v1+json",
    digest: `sha256:${hex}`,
    size: body.byteLength,
    annotations: { "org.opencontainers.image.ref.name": tag },
  });
  Deno.writeTextFileSync(`${ociDir}/index.json`, JSON.stringify(index));
}
