/**
 * The Polis client SDK: typed calls to the daemon's HTTP API over its unix socket (or a
 * TCP base URL). Failures come back as `PolisError` rebuilt from the daemon's JSON error,
 * and a daemon that does not answer as `DaemonUnreachableError`.
 *
 * @example
 * ```ts
 * const polis = new PolisClient({ socket: "/run/polis/polis.sock" });
 * const { Id } = await polis.createContainer({ image: "busybox", cmd: ["echo", "hi"] });
 * const wait = await polis.registerWait(Id);
 * await polis.startContainer(Id);
 * for await (const line of polis.containerLogs(Id, { follow: true })) console.log(line.log);
 * console.log((await wait.result).StatusCode);
 * polis.close();
 * ```
 * @module
 */

import { type ErrorCode, PolisError } from "../core/mod.ts";
import type { ContainerCreateRequest } from "../api/mod.ts";
import type {
  FirewallRuleSpec,
  FirewallRuleView,
  NetworkCreateSpec,
  NetworkInspect,
} from "../engine/types.ts";
import type {
  ContainerInspect,
  ContainerListOptions,
  ContainerSummary,
  DiskUsage,
  ImageInspect,
  ImagePruneResult,
  ImageSummary,
  LogEntry,
  LogOptions,
  PullImageOptions,
  PullImageResult,
  PullProgress,
  PushImageResult,
  RemoveImageResult,
  SystemInfo,
  VersionInfo,
  WaitCondition,
  WaitResult,
} from "../engine/types.ts";

export type { ContainerCreateRequest };

export const DEFAULT_SOCKET = "/run/polis/polis.sock";

export interface PolisClientOptions {
  /** The daemon's unix socket (default /run/polis/polis.sock). */
  socket?: string;
  /** Talk to a TCP listener instead, e.g. "http://127.0.0.1:2375". */
  baseUrl?: string;
}

/** The daemon did not answer: not running, wrong socket, or no permission on it. */
export class DaemonUnreachableError extends PolisError {
  constructor(where: string, cause: unknown) {
    super(
      "unavailable",
      `cannot connect to the Polis daemon at ${where}: is 'polis daemon' running?`,
      {
        cause,
      },
    );
    this.name = "DaemonUnreachableError";
  }
}

/** A wait registered with the daemon: `result` settles when the container exits. */
export interface PendingWait {
  result: Promise<WaitResult>;
  /** Gives up waiting (`result` then rejects). */
  cancel(): void;
}

/** An open log stream: iterate it, or close it to stop following. */
export interface LogStream extends AsyncIterable<LogEntry> {
  close(): void;
}

export interface LogsRequest extends LogOptions {
  /** Accepted for docker compatibility: every entry carries its time anyway. */
  timestamps?: boolean;
}

const CODES: readonly ErrorCode[] = [
  "not_found",
  "conflict",
  "invalid_argument",
  "failed_precondition",
  "unavailable",
  "internal",
];

function codeForStatus(status: number): ErrorCode {
  if (status === 404) return "not_found";
  if (status === 409) return "conflict";
  if (status >= 400 && status < 500) return "invalid_argument";
  if (status === 503) return "unavailable";
  return "internal";
}

/** Rebuilds the daemon's `{ "error": { code, message, details } }` as a PolisError. */
export function errorFromBody(body: unknown, status = 500): PolisError | undefined {
  const e = (body as { error?: { code?: unknown; message?: unknown; details?: unknown } })?.error;
  if (!e || typeof e.message !== "string") return undefined;
  const code = CODES.includes(e.code as ErrorCode) ? e.code as ErrorCode : codeForStatus(status);
  const details = typeof e.details === "object" && e.details !== null
    ? e.details as Record<string, unknown>
    : undefined;
  return new PolisError(code, e.message, { details });
}

async function errorFromResponse(res: Response): Promise<PolisError> {
  const text = await res.text().catch(() => "");
  try {
    const err = errorFromBody(JSON.parse(text), res.status);
    if (err) return err;
  } catch {
    // Not JSON: fall through to the raw text.
  }
  return new PolisError(
    codeForStatus(res.status),
    `daemon answered ${res.status}: ${text.trim() || res.statusText}`,
  );
}

type Query = Record<string, string | number | boolean | undefined>;

interface RequestOptions {
  query?: Query;
  json?: unknown;
  body?: BodyInit;
  contentType?: string;
  signal?: AbortSignal;
}

function queryString(q: Query | undefined): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(q ?? {})) {
    if (v !== undefined) params.set(k, typeof v === "boolean" ? (v ? "1" : "0") : String(v));
  }
  const s = params.toString();
  return s ? `?${s}` : "";
}

const enc = encodeURIComponent;

/** Splits an NDJSON byte stream into parsed values. */
async function* ndjson(body: ReadableStream<Uint8Array>): AsyncGenerator<unknown> {
  let buf = "";
  for await (const chunk of body.pipeThrough(new TextDecoderStream())) {
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (line) yield JSON.parse(line);
    }
  }
  if (buf.trim()) yield JSON.parse(buf);
}

export class PolisClient {
  /** The socket in use, when not talking TCP. */
  readonly socket?: string;
  readonly baseUrl: string;
  #http?: Deno.HttpClient;

  constructor(opts: PolisClientOptions = {}) {
    if (opts.baseUrl) {
      this.baseUrl = opts.baseUrl.replace(/\/+$/, "");
    } else {
      this.socket = opts.socket ?? DEFAULT_SOCKET;
      // The host part is only the Host header: requests go to the socket. It must be an IP
      // literal: Deno resolves the name even over a unix socket, and a made-up name
      // ("polis") sends DNS queries and stalls for 5 s now and then.
      this.baseUrl = "http://127.0.0.1";
    }
  }

  /** Releases the HTTP connection pool. */
  close(): void {
    this.#http?.close();
    this.#http = undefined;
  }

  [Symbol.dispose](): void {
    this.close();
  }

  async #request(method: string, path: string, opts: RequestOptions = {}): Promise<Response> {
    if (this.socket && !this.#http) {
      this.#http = Deno.createHttpClient({ proxy: { transport: "unix", path: this.socket } });
    }
    const headers: Record<string, string> = {};
    let body = opts.body;
    if (opts.json !== undefined) {
      headers["content-type"] = "application/json";
      body = JSON.stringify(opts.json);
    } else if (opts.contentType) {
      headers["content-type"] = opts.contentType;
    }
    let res: Response;
    try {
      res = await fetch(`${this.baseUrl}/v1${path}${queryString(opts.query)}`, {
        method,
        headers,
        body,
        signal: opts.signal,
        client: this.#http,
      });
    } catch (err) {
      if (opts.signal?.aborted) throw err;
      throw new DaemonUnreachableError(this.socket ?? this.baseUrl, err);
    }
    if (!res.ok) throw await errorFromResponse(res);
    return res;
  }

  async #json<T>(method: string, path: string, opts?: RequestOptions): Promise<T> {
    return await (await this.#request(method, path, opts)).json() as T;
  }

  async #empty(method: string, path: string, opts?: RequestOptions): Promise<void> {
    await (await this.#request(method, path, opts)).body?.cancel();
  }

  // ---- system ------------------------------------------------------------------------------

  async ping(): Promise<string> {
    return await (await this.#request("GET", "/_ping")).text();
  }
  version(): Promise<VersionInfo> {
    return this.#json("GET", "/version");
  }
  info(): Promise<SystemInfo> {
    return this.#json("GET", "/info");
  }
  /** Has the daemon check credentials against a registry (`polis login`); throws if refused. */
  async login(server: string, auth: { username: string; password: string }): Promise<void> {
    await this.#empty("POST", "/auth", { json: { ...auth, serveraddress: server } });
  }
  /** The daemon's OpenAPI document. */
  openapi(): Promise<Record<string, unknown>> {
    return this.#json("GET", "/openapi.json");
  }

  // ---- containers --------------------------------------------------------------------------

  createContainer(spec: ContainerCreateRequest): Promise<{ Id: string; Warnings: string[] }> {
    return this.#json("POST", "/containers", { json: spec });
  }
  startContainer(id: string): Promise<void> {
    return this.#empty("POST", `/containers/${enc(id)}/start`);
  }
  stopContainer(id: string, opts: { timeout?: number } = {}): Promise<void> {
    return this.#empty("POST", `/containers/${enc(id)}/stop`, { query: { t: opts.timeout } });
  }
  restartContainer(id: string, opts: { timeout?: number } = {}): Promise<void> {
    return this.#empty("POST", `/containers/${enc(id)}/restart`, { query: { t: opts.timeout } });
  }
  killContainer(id: string, opts: { signal?: string } = {}): Promise<void> {
    return this.#empty("POST", `/containers/${enc(id)}/kill`, { query: { signal: opts.signal } });
  }
  removeContainer(id: string, opts: { force?: boolean } = {}): Promise<void> {
    return this.#empty("DELETE", `/containers/${enc(id)}`, { query: { force: opts.force } });
  }
  listContainers(opts: ContainerListOptions = {}): Promise<ContainerSummary[]> {
    const filters = opts.filters && Object.keys(opts.filters).length > 0
      ? JSON.stringify(opts.filters)
      : undefined;
    return this.#json("GET", "/containers", { query: { all: opts.all, filters } });
  }
  inspectContainer(id: string): Promise<ContainerInspect> {
    return this.#json("GET", `/containers/${enc(id)}`);
  }

  /**
   * Registers a wait for the container's next exit. Once this resolves the daemon holds
   * the wait, so the container can be started without missing its exit.
   */
  async registerWait(id: string, condition?: WaitCondition): Promise<PendingWait> {
    const ac = new AbortController();
    const query = condition ? `?condition=${condition}` : "";
    const res = await this.#request("POST", `/containers/${enc(id)}/wait${query}`, {
      signal: ac.signal,
    });
    const result = res.json().then((body: unknown) => {
      const err = errorFromBody(body);
      if (err) throw err;
      return body as WaitResult;
    });
    // A cancelled wait nobody awaits must not surface as an unhandled rejection.
    result.catch(() => {});
    return { result, cancel: () => ac.abort() };
  }

  /** Waits for the container's next exit (at once if it is not running). */
  async waitContainer(id: string): Promise<WaitResult> {
    return await (await this.registerWait(id)).result;
  }

  /** Opens the log stream; resolves once the daemon has answered (a follower is in place). */
  async openLogs(id: string, opts: LogsRequest = {}): Promise<LogStream> {
    const ac = new AbortController();
    const res = await this.#request("GET", `/containers/${enc(id)}/logs`, {
      signal: ac.signal,
      query: {
        follow: opts.follow,
        tail: opts.tail,
        since: opts.since,
        until: opts.until,
        timestamps: opts.timestamps,
        stdout: opts.stdout,
        stderr: opts.stderr,
      },
    });
    const body = res.body!;
    const close = () => {
      ac.abort();
      void body.cancel().catch(() => {});
    };
    return {
      close,
      async *[Symbol.asyncIterator]() {
        try {
          for await (const value of ndjson(body)) {
            const err = errorFromBody(value);
            if (err) throw err;
            yield value as LogEntry;
          }
        } catch (err) {
          if (ac.signal.aborted) return;
          throw err;
        } finally {
          close();
        }
      },
    };
  }

  /** Log entries; with `follow`, until the container stops or the loop breaks. */
  async *containerLogs(id: string, opts: LogsRequest = {}): AsyncGenerator<LogEntry> {
    yield* await this.openLogs(id, opts);
  }

  // ---- images ------------------------------------------------------------------------------

  listImages(): Promise<ImageSummary[]> {
    return this.#json("GET", "/images");
  }

  /**
   * Loads images from a docker-save archive or OCI layout tar, streamed from here, or from
   * `{ path }` on the daemon's host.
   */
  loadImages(
    source: ReadableStream<Uint8Array> | Uint8Array | { path: string },
  ): Promise<{ loaded: string[] }> {
    if (source instanceof ReadableStream || source instanceof Uint8Array) {
      return this.#json("POST", "/images/load", {
        body: source as BodyInit,
        contentType: "application/x-tar",
      });
    }
    return this.#json("POST", "/images/load", { json: { path: source.path } });
  }
  /**
   * Pulls `ref` from its registry through the daemon; `onProgress` sees each progress
   * message. Resolves when the image is stored; a failure mid-pull rejects.
   */
  async pullImage(
    ref: string,
    opts: PullImageOptions = {},
    onProgress?: (p: PullProgress) => void,
  ): Promise<PullImageResult> {
    const res = await this.#request("POST", "/images/pull", {
      json: { reference: ref, platform: opts.platform, auth: opts.auth },
    });
    for await (const value of ndjson(res.body!)) {
      const err = errorFromBody(value);
      if (err) throw err;
      const msg = value as PullProgress & Partial<PullImageResult>;
      if (msg.status === "done" && msg.image) {
        await res.body?.cancel().catch(() => {});
        return { image: msg.image, reference: msg.reference ?? ref, digest: msg.digest ?? "" };
      }
      onProgress?.(msg);
    }
    throw new PolisError("unavailable", `pull of ${ref}: the daemon ended the stream early`);
  }
  removeImage(ref: string, opts: { force?: boolean } = {}): Promise<RemoveImageResult[]> {
    return this.#json("DELETE", `/images/${enc(ref)}`, { query: { force: opts.force } });
  }
  tagImage(source: string, target: string): Promise<void> {
    return this.#empty("POST", `/images/${enc(source)}/tag`, { json: { target } });
  }
  inspectImage(ref: string): Promise<ImageInspect> {
    return this.#json("GET", `/images/${enc(ref)}`);
  }
  /**
   * Pushes `ref` to its registry through the daemon; `onProgress` sees each progress
   * message. Resolves when the manifest is up; a failure mid-push rejects.
   */
  async pushImage(
    ref: string,
    opts: { auth?: PullImageOptions["auth"] } = {},
    onProgress?: (p: PullProgress) => void,
  ): Promise<PushImageResult> {
    const res = await this.#request("POST", `/images/${enc(ref)}/push`, {
      json: { auth: opts.auth },
    });
    const progress: PushImageResult["progress"] = [];
    for await (const value of ndjson(res.body!)) {
      const err = errorFromBody(value);
      if (err) throw err;
      const msg = value as PullProgress & Partial<PushImageResult>;
      if (msg.status === "done" && msg.digest) {
        await res.body?.cancel().catch(() => {});
        return {
          reference: msg.reference ?? ref,
          digest: msg.digest,
          size: msg.size ?? 0,
          progress,
        };
      }
      if (msg.id !== undefined && !["Pushing", "Preparing"].includes(msg.status)) {
        progress.push({ id: msg.id, status: msg.status });
      }
      onProgress?.(msg);
    }
    throw new PolisError("unavailable", `push of ${ref}: the daemon ended the stream early`);
  }
  /** The images as one tar stream (docker-archive by default). */
  async saveImages(
    refs: string[],
    format?: "docker-archive" | "oci",
  ): Promise<ReadableStream<Uint8Array>> {
    const res = await this.#request("GET", "/images/get", {
      query: { names: refs.join(","), format },
    });
    return res.body ?? new Blob([]).stream();
  }
  pruneImages(opts: { all?: boolean } = {}): Promise<ImagePruneResult> {
    return this.#json("POST", "/images/prune", { query: { all: opts.all } });
  }
  diskUsage(): Promise<DiskUsage> {
    return this.#json("GET", "/system/df");
  }

  // ---- networks ----------------------------------------------------------------------------

  createNetwork(spec: NetworkCreateSpec): Promise<{ Id: string; Warning: string }> {
    return this.#json("POST", "/networks", { json: spec });
  }
  listNetworks(): Promise<NetworkInspect[]> {
    return this.#json("GET", "/networks");
  }
  inspectNetwork(id: string): Promise<NetworkInspect> {
    return this.#json("GET", `/networks/${enc(id)}`);
  }
  removeNetwork(id: string): Promise<void> {
    return this.#empty("DELETE", `/networks/${enc(id)}`);
  }
  connectNetwork(
    id: string,
    container: string,
    opts: { ip?: string; ip6?: string; aliases?: string[] } = {},
  ): Promise<void> {
    return this.#empty("POST", `/networks/${enc(id)}/connect`, {
      json: { container, ...opts },
    });
  }
  disconnectNetwork(id: string, container: string, force = false): Promise<void> {
    return this.#empty("POST", `/networks/${enc(id)}/disconnect`, {
      json: { container, ...(force ? { force } : {}) },
    });
  }
  pruneNetworks(): Promise<{ NetworksDeleted: string[] }> {
    return this.#json("POST", "/networks/prune");
  }
  addFirewallRule(
    network: string,
    rule: FirewallRuleSpec & { container?: string },
  ): Promise<{ Id: string }> {
    return this.#json("POST", `/networks/${enc(network)}/rules`, { json: rule });
  }
  listFirewallRules(network: string): Promise<FirewallRuleView[]> {
    return this.#json("GET", `/networks/${enc(network)}/rules`);
  }
  deleteFirewallRule(network: string, rule: string): Promise<void> {
    return this.#empty("DELETE", `/networks/${enc(network)}/rules/${enc(rule)}`);
  }
}
