/**
 * An OCI distribution client for one repository, over `fetch`: manifests (verified
 * against their digest) and blobs from an offset (HTTP Range). It answers registry
 * challenges itself (Basic, or Bearer tokens fetched from the realm with the pull scope
 * and cached until they expire), retries with backoff on 5xx, 429 and broken
 * connections, and talks plain HTTP only to insecure hosts: loopback and localhost by
 * default, TLS to everything else. Mirrors for docker.io are tried before Docker Hub.
 * @module
 */

import { PolisError } from "../../core/errors.ts";
import { logger } from "../../core/log.ts";
import { sha256Hex } from "../content.ts";
import { basicAuthorization, type Challenge, type Credentials, parseChallenges } from "./auth.ts";
import { TokenCache } from "./auth.ts";
import { MANIFEST_ACCEPT, MAX_MANIFEST_BYTES } from "./manifest.ts";

export interface RegistryConfig {
  /** Hosts (`host[:port]`) reached over plain HTTP, besides loopback and localhost. */
  insecure?: string[];
  /** Mirrors of docker.io, as base URLs ("https://mirror.example:5000"), tried first. */
  mirrors?: string[];
  /**
   * Talk only to this machine (loopback and localhost): registries, mirrors, token realms
   * and redirects elsewhere are refused before any connection is made.
   */
  offline?: boolean;
}

export interface ClientOptions {
  config?: RegistryConfig;
  credentials?: Credentials;
  /** Shared between clients so one token serves many pulls. */
  tokens?: TokenCache;
  /** Attempts after the first on transient failures (default 5). */
  retries?: number;
  /** First backoff delay in ms, doubled each time up to 8 s (default 250). */
  backoffMs?: number;
  /** A blob body that sends nothing for this long is abandoned (default 30 s). */
  idleTimeoutMs?: number;
  userAgent?: string;
  /** Ask tokens for push as well as pull (what `push` needs). */
  push?: boolean;
  /** More token scopes to ask for, e.g. `repository:other:pull` for a cross-repo mount. */
  extraScopes?: string[];
}

/** A request other than a plain GET: the body is made again for each attempt. */
interface SendInit {
  method?: string;
  body?: () => BodyInit | Promise<BodyInit>;
  /** Attempts after the first (default the client's). */
  retries?: number;
}

/** What a cross-repository mount did. */
export type MountResult =
  | { mounted: true }
  /** Not mounted; the registry opened an upload session at `location` instead. */
  | { mounted: false; location?: string };

export interface FetchedManifest {
  bytes: Uint8Array;
  /** The Content-Type the registry sent. */
  contentType: string | null;
  digest: string;
}

export interface BlobBody {
  body: ReadableStream<Uint8Array>;
  /** Where the body starts: the offset asked for, or 0 when the registry sent it all. */
  offset: number;
}

export const DOCKER_HUB_API = "registry-1.docker.io";

/**
 * Registry settings from the environment: `POLIS_INSECURE_REGISTRIES` (comma-separated
 * `host[:port]`, plain HTTP) and `POLIS_REGISTRY_MIRRORS` (comma-separated base URLs of
 * docker.io mirrors).
 */
export function registryConfigFromEnv(
  env: (name: string) => string | undefined = (n) => Deno.env.get(n),
): RegistryConfig {
  const list = (name: string) =>
    (env(name) ?? "").split(",").map((s) => s.trim()).filter((s) => s !== "");
  return { insecure: list("POLIS_INSECURE_REGISTRIES"), mirrors: list("POLIS_REGISTRY_MIRRORS") };
}

/** Whether `host` (`name[:port]`) is this machine: loopback or localhost. */
export function isLoopbackHost(host: string): boolean {
  const name = host.startsWith("[") ? host.slice(1, host.indexOf("]")) : host.split(":")[0];
  if (name === "localhost" || name.endsWith(".localhost") || name === "::1") return true;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name);
}

/** Whether `host` (`name[:port]`) is talked to over plain HTTP. */
export function isInsecureHost(host: string, config: RegistryConfig = {}): boolean {
  if (isLoopbackHost(host)) return true;
  const name = host.startsWith("[") ? host.slice(1, host.indexOf("]")) : host.split(":")[0];
  return (config.insecure ?? []).some((h) => h === host || h === name);
}

/** Base URLs to try for a registry domain, in order. */
export function endpointsFor(domain: string, config: RegistryConfig = {}): string[] {
  const api = domain === "docker.io" ? DOCKER_HUB_API : domain;
  const own = `${isInsecureHost(api, config) ? "http" : "https"}://${api}`;
  if (domain !== "docker.io") return [own];
  return [...(config.mirrors ?? []).map((m) => m.replace(/\/+$/, "")), own];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A failure worth another attempt: a broken connection, a 5xx or a 429. */
function transient(message: string, cause?: unknown): PolisError {
  return new PolisError("unavailable", message, { cause });
}

async function registryErrorText(res: Response): Promise<string> {
  const text = await res.text().catch(() => "");
  try {
    const body = JSON.parse(text) as { errors?: { code?: string; message?: string }[] };
    const parts = (body.errors ?? []).map((e) => e.message ?? e.code).filter(Boolean);
    if (parts.length) return parts.join("; ");
  } catch {
    // not the spec's error body
  }
  return text.trim().slice(0, 200) || res.statusText || `HTTP ${res.status}`;
}

export class RegistryClient {
  readonly endpoints: string[];
  readonly scope: string;
  #endpoint = 0;
  #authorization?: string;
  #tokenKey?: string;
  /** The Bearer challenge last answered, to fetch a new token when ours expires. */
  #bearer?: Challenge;
  readonly #pendingToken = new Map<string, Promise<string>>();
  readonly #tokens: TokenCache;
  readonly #retries: number;
  readonly #backoff: number;
  readonly #idle: number;

  /** `domain` as in a reference ("docker.io", "127.0.0.1:5000"); `repo` its path. */
  constructor(
    readonly domain: string,
    readonly repo: string,
    readonly opts: ClientOptions = {},
  ) {
    this.endpoints = endpointsFor(domain, opts.config);
    this.scope = [
      ...(repo === "" ? [] : [`repository:${repo}:${opts.push ? "pull,push" : "pull"}`]),
      ...(opts.extraScopes ?? []),
    ].join(" ");
    this.#tokens = opts.tokens ?? new TokenCache();
    this.#retries = opts.retries ?? 5;
    this.#backoff = opts.backoffMs ?? 250;
    this.#idle = opts.idleTimeoutMs ?? 30_000;
  }

  /**
   * Checks that the registry accepts our credentials (`GET /v2/`, answering its
   * challenge): what `login` does. Throws invalid_argument with "unauthorized" if not.
   */
  async checkLogin(): Promise<void> {
    const what = `login to ${this.domain}`;
    const res = await this.#send("/v2/", {}, what);
    if (res.ok) {
      await res.body?.cancel();
      return;
    }
    throw await this.#failure(res, what);
  }

  /** `reference` is a tag or a digest; a digest reference is checked against the bytes. */
  async getManifest(reference: string): Promise<FetchedManifest> {
    const what = `${this.domain}/${this.repo}${reference.includes(":") ? "@" : ":"}${reference}`;
    let lastErr: unknown;
    // Mirrors first; the next endpoint only when one fails.
    for (let i = this.#endpoint; i < this.endpoints.length; i++) {
      if (this.opts.config?.offline && !isLoopbackHost(new URL(this.endpoints[i]).host)) {
        throw this.#offlineRefusal(what, this.endpoints[i], lastErr);
      }
      this.#endpoint = i;
      try {
        return await this.#getManifest(reference, what);
      } catch (e) {
        lastErr = e;
        if (i < this.endpoints.length - 1) {
          logger.warn("registry mirror failed; trying the next", {
            endpoint: this.endpoints[i],
            error: String(e),
          });
        }
      }
    }
    throw lastErr;
  }

  async #getManifest(reference: string, what: string): Promise<FetchedManifest> {
    const res = await this.#send(`/v2/${this.repo}/manifests/${reference}`, {
      accept: MANIFEST_ACCEPT,
    }, what);
    if (res.status === 404) {
      const why = await registryErrorText(res);
      throw PolisError.notFound(`manifest for ${what} not found: ${why}`);
    }
    if (!res.ok) throw await this.#failure(res, what);
    const declared = Number(res.headers.get("content-length") ?? "0");
    if (declared > MAX_MANIFEST_BYTES) {
      await res.body?.cancel();
      throw PolisError.invalid(`manifest for ${what} is too large (${declared} bytes)`);
    }
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(await res.arrayBuffer());
    } catch (e) {
      throw transient(`reading the manifest for ${what}: ${(e as Error).message}`, e);
    }
    if (bytes.byteLength > MAX_MANIFEST_BYTES) {
      throw PolisError.invalid(`manifest for ${what} is too large (${bytes.byteLength} bytes)`);
    }
    const digest = `sha256:${sha256Hex(bytes)}`;
    if (reference.startsWith("sha256:") && reference !== digest) {
      throw PolisError.invalid(
        `manifest for ${what}: content does not match its digest (got ${digest})`,
      );
    }
    const header = res.headers.get("docker-content-digest");
    if (header && header.startsWith("sha256:") && header !== digest) {
      throw PolisError.invalid(
        `manifest for ${what}: the registry says ${header} but the content hashes to ${digest}`,
      );
    }
    return { bytes, contentType: res.headers.get("content-type"), digest };
  }

  /** Why an endpoint off this machine is not tried, with what the mirrors said before. */
  #offlineRefusal(what: string, endpoint: string, lastErr: unknown): PolisError {
    const host = new URL(endpoint).host;
    const refusal =
      `${host} is not tried: the daemon runs --offline (only registries on this machine)`;
    if (lastErr === undefined) return PolisError.notFound(`No such image: ${what} (${refusal})`);
    const prior = lastErr instanceof Error ? lastErr.message : String(lastErr);
    const code = lastErr instanceof PolisError ? lastErr.code : "unavailable";
    return new PolisError(code, `${prior}; ${refusal}`, { cause: lastErr });
  }

  /** Whether the repository has the blob (HEAD). */
  async hasBlob(digest: string): Promise<boolean> {
    const what = `blob ${digest} of ${this.domain}/${this.repo}`;
    const res = await this.#send(`/v2/${this.repo}/blobs/${digest}`, {}, what, undefined, {
      method: "HEAD",
    });
    await res.body?.cancel();
    if (res.status === 404) return false;
    if (res.ok) return true;
    throw await this.#failure(res, what);
  }

  /**
   * Asks the registry to link a blob another repository of it holds
   * (`POST …/blobs/uploads/?mount=&from=`): no bytes move when it can.
   */
  async mountBlob(digest: string, from: string): Promise<MountResult> {
    const what = `mount of ${digest} from ${from} into ${this.domain}/${this.repo}`;
    const q = new URLSearchParams({ mount: digest, from });
    const res = await this.#send(`/v2/${this.repo}/blobs/uploads/?${q}`, {}, what, undefined, {
      method: "POST",
    });
    await res.body?.cancel();
    if (res.status === 201) return { mounted: true };
    if (res.status === 202) {
      return { mounted: false, location: res.headers.get("location") ?? undefined };
    }
    throw await this.#failure(res, what);
  }

  /** Opens an upload session; its URL. */
  async #startUpload(what: string): Promise<string> {
    const start = await this.#send(`/v2/${this.repo}/blobs/uploads/`, {}, what, undefined, {
      method: "POST",
    });
    await start.body?.cancel();
    if (start.status !== 202) throw await this.#failure(start, what);
    return this.#location(start, what);
  }

  #location(res: Response, what: string): string {
    const location = res.headers.get("location");
    if (!location) throw PolisError.invalid(`${what}: the registry gave no upload location`);
    return new URL(location, this.endpoints[this.#endpoint]).href;
  }

  /**
   * Uploads a blob monolithically: POST opens an upload session (unless `location` is
   * one already), one PUT with `?digest=` sends the bytes (`open` gives them again on a
   * retry) and commits it.
   */
  async uploadBlob(
    digest: string,
    size: number,
    open: () => Promise<ReadableStream<Uint8Array>>,
    location?: string,
  ): Promise<void> {
    const what = `upload of ${digest} to ${this.domain}/${this.repo}`;
    const url = new URL(
      location
        ? new URL(location, this.endpoints[this.#endpoint]).href
        : await this.#startUpload(what),
    );
    url.searchParams.set("digest", digest);
    const put = await this.#send(
      url.href,
      {
        "content-type": "application/octet-stream",
        "content-length": String(size),
      },
      what,
      undefined,
      { method: "PUT", body: open },
    );
    await put.body?.cancel();
    if (put.status !== 201) throw await this.#failure(put, what);
  }

  /**
   * Uploads a blob in chunks: one PATCH per `chunkSize` bytes (`Content-Range`), each
   * body read from `open(offset, length)` as it goes, then a PUT with `?digest=` commits
   * it. A chunk cut off is resumed from what the registry says it has (GET on the
   * session). `onBytes` sees the bytes the registry has acknowledged.
   */
  async uploadBlobChunked(
    digest: string,
    size: number,
    open: (offset: number, length: number) => Promise<ReadableStream<Uint8Array>>,
    opts: { chunkSize: number; location?: string; onBytes?: (done: number) => void },
  ): Promise<void> {
    const what = `upload of ${digest} to ${this.domain}/${this.repo}`;
    let url = opts.location
      ? new URL(opts.location, this.endpoints[this.#endpoint]).href
      : await this.#startUpload(what);
    let offset = 0;
    let failures = 0;
    while (offset < size) {
      const length = Math.min(opts.chunkSize, size - offset);
      const start = offset;
      let res: Response;
      try {
        res = await this.#send(
          url,
          {
            "content-type": "application/octet-stream",
            "content-length": String(length),
            "content-range": `${start}-${start + length - 1}`,
          },
          what,
          undefined,
          { method: "PATCH", body: () => open(start, length), retries: 0 },
        );
      } catch (e) {
        if (!(e instanceof PolisError) || e.code !== "unavailable" || ++failures > this.#retries) {
          throw e;
        }
        await sleep(Math.min(8000, this.#backoff * 2 ** (failures - 1)));
        ({ url, offset } = await this.#uploadStatus(url, what));
        continue;
      }
      await res.body?.cancel();
      if (res.status === 416 && failures > 0 && ++failures <= this.#retries + 1) {
        // The cut chunk got further than the status said: ask again.
        ({ url, offset } = await this.#uploadStatus(url, what));
        continue;
      }
      if (res.status !== 202) throw await this.#failure(res, what);
      url = this.#location(res, what);
      const range = /^(?:bytes=)?0-(\d+)$/.exec(res.headers.get("range") ?? "");
      offset = range ? Number(range[1]) + 1 : start + length;
      opts.onBytes?.(offset);
    }
    const done = new URL(url);
    done.searchParams.set("digest", digest);
    const put = await this.#send(done.href, { "content-length": "0" }, what, undefined, {
      method: "PUT",
    });
    await put.body?.cancel();
    if (put.status !== 201) throw await this.#failure(put, what);
  }

  /** Where an upload session stands: its URL and the next offset the registry wants. */
  async #uploadStatus(url: string, what: string): Promise<{ url: string; offset: number }> {
    const res = await this.#send(url, {}, what);
    await res.body?.cancel();
    if (res.status !== 204) throw await this.#failure(res, what);
    const range = /^(?:bytes=)?0-(\d+)$/.exec(res.headers.get("range") ?? "");
    return { url: this.#location(res, what), offset: range ? Number(range[1]) + 1 : 0 };
  }

  /** PUTs a manifest under `reference` (a tag or its digest). */
  async putManifest(reference: string, bytes: Uint8Array, mediaType: string): Promise<void> {
    const what = `manifest ${this.domain}/${this.repo}:${reference}`;
    const res = await this.#send(
      `/v2/${this.repo}/manifests/${reference}`,
      {
        "content-type": mediaType,
      },
      what,
      undefined,
      { method: "PUT", body: () => bytes as Uint8Array<ArrayBuffer> },
    );
    await res.body?.cancel();
    if (res.status !== 201) throw await this.#failure(res, what);
  }

  /** The blob's bytes from `offset` on (all of it if the registry ignores the range). */
  async openBlob(digest: string, offset = 0): Promise<BlobBody> {
    const what = `blob ${digest} of ${this.domain}/${this.repo}`;
    const headers: Record<string, string> = {};
    if (offset > 0) headers.range = `bytes=${offset}-`;
    const ac = new AbortController();
    const res = await this.#send(`/v2/${this.repo}/blobs/${digest}`, headers, what, ac.signal);
    if (res.status === 404) {
      await res.body?.cancel();
      throw PolisError.notFound(`${what} not found`);
    }
    if (!res.ok || !res.body) throw await this.#failure(res, what);
    let start = 0;
    if (res.status === 206) {
      const m = /^bytes (\d+)-\d+\/(?:\d+|\*)$/.exec(res.headers.get("content-range") ?? "");
      if (!m) {
        await res.body.cancel();
        throw transient(`${what}: a partial answer without a valid Content-Range`);
      }
      start = Number(m[1]);
    }
    return { body: this.#watchdog(res.body, ac, what), offset: start };
  }

  /**
   * Passes the body on, aborting the request when no bytes come for a while. A byte
   * stream both ways: a reader with its own buffer (BYOB) gets it filled straight from
   * the connection, so a download makes no fresh array per chunk.
   */
  #watchdog(
    body: ReadableStream<Uint8Array>,
    ac: AbortController,
    what: string,
  ): ReadableStream<Uint8Array> {
    let byob: ReadableStreamBYOBReader | undefined;
    try {
      byob = body.getReader({ mode: "byob" });
    } catch {
      // not a byte stream: chunks as they come
    }
    const reader = byob ? undefined : body.getReader();
    const idle = this.#idle;
    return new ReadableStream({
      type: "bytes",
      autoAllocateChunkSize: 64 * 1024,
      async pull(controller) {
        let timer: ReturnType<typeof setTimeout> | undefined;
        const stalled = new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            ac.abort();
            reject(transient(`${what}: no data for ${idle / 1000} s`));
          }, idle);
        });
        try {
          const req = controller.byobRequest;
          if (byob && req?.view) {
            const r = await Promise.race([byob.read(req.view as Uint8Array<ArrayBuffer>), stalled]);
            if (r.done) controller.close();
            // The filled view is the request's own buffer, moved: it answers the request.
            if (r.value) req.respondWithNewView(r.value);
          } else {
            const r = await Promise.race([
              byob ? byob.read(new Uint8Array(64 * 1024)) : reader!.read(),
              stalled,
            ]);
            if (r.done) controller.close();
            else controller.enqueue(r.value);
          }
        } catch (e) {
          controller.error(
            e instanceof PolisError ? e : transient(`${what}: ${(e as Error).message}`, e),
          );
        } finally {
          clearTimeout(timer);
        }
      },
      cancel(reason) {
        ac.abort();
        return (byob ?? reader!).cancel(reason).catch(() => {});
      },
    });
  }

  #checkOffline(url: string, what: string): void {
    if (!this.opts.config?.offline) return;
    const host = new URL(url).host;
    if (!isLoopbackHost(host)) {
      throw new PolisError(
        "failed_precondition",
        `${what}: ${host} is not on this machine and the daemon runs --offline`,
      );
    }
  }

  async #failure(res: Response, what: string): Promise<PolisError> {
    const why = await registryErrorText(res);
    if (res.status === 401 || res.status === 403) {
      return new PolisError(
        "invalid_argument",
        `${what}: ${res.status === 401 ? "unauthorized" : "denied"}: ${why}`,
        { details: { registryStatus: res.status } },
      );
    }
    return new PolisError("internal", `${what}: the registry answered ${res.status}: ${why}`, {
      details: { registryStatus: res.status },
    });
  }

  /** One GET with auth and retries; 5xx/429/connection failures are retried, then thrown. */
  async #send(
    path: string,
    headers: Record<string, string>,
    what: string,
    signal?: AbortSignal,
    init: SendInit = {},
  ): Promise<Response> {
    for (let attempt = 0;; attempt++) {
      let failure: PolisError;
      try {
        const res = await this.#authed(path, headers, what, signal, init);
        if (res.status < 500 && res.status !== 429) return res;
        failure = transient(
          `${what}: the registry answered ${res.status}: ${await registryErrorText(res)}`,
        );
      } catch (e) {
        if (e instanceof PolisError) throw e;
        if (signal?.aborted) throw e;
        failure = transient(
          `${what}: cannot reach ${this.endpoints[this.#endpoint]}: ${(e as Error).message}`,
          e,
        );
      }
      if (attempt >= (init.retries ?? this.#retries)) throw failure;
      const delay = Math.min(8000, this.#backoff * 2 ** attempt) * (0.75 + Math.random() / 2);
      logger.info("registry request failed; retrying", { what, attempt, error: failure.message });
      await sleep(delay);
    }
  }

  /** A request carrying our credentials; a 401 challenge is answered once, then returned. */
  async #authed(
    path: string,
    headers: Record<string, string>,
    what: string,
    signal?: AbortSignal,
    init: SendInit = {},
  ): Promise<Response> {
    // Upload locations come back as full URLs.
    const url = /^https?:\/\//.test(path) ? path : `${this.endpoints[this.#endpoint]}${path}`;
    const offline = this.opts.config?.offline === true;
    this.#checkOffline(url, what);
    const get = async () => {
      const h: Record<string, string> = { ...headers };
      if (this.#authorization) h.authorization = this.#authorization;
      if (this.opts.userAgent) h["user-agent"] = this.opts.userAgent;
      const body = init.body ? await init.body() : undefined;
      const method = init.method ?? "GET";
      if (!offline) return fetch(url, { method, headers: h, body, signal, redirect: "follow" });
      // Offline: follow redirects (blob storage) only while they stay on this machine.
      let res = await fetch(url, { method, headers: h, body, signal, redirect: "manual" });
      for (let hops = 0; hops < 10 && res.status >= 300 && res.status < 400; hops++) {
        const location = res.headers.get("location");
        if (!location) break;
        const next = new URL(location, url).href;
        await res.body?.cancel();
        this.#checkOffline(next, what);
        res = await fetch(next, { method, headers: h, signal, redirect: "manual" });
      }
      return res;
    };
    if (this.#tokenKey) {
      // Another client may have refreshed it; once it expires, fetch a new one before
      // the registry turns the old one down.
      const t = this.#tokens.get(this.#tokenKey);
      if (t) this.#authorization = `Bearer ${t}`;
      else if (this.#bearer) {
        this.#authorization = `Bearer ${await this.#token(this.#bearer, what)}`;
      }
    }
    const res = await get();
    if (res.status !== 401) return res;
    const sent = this.#authorization;
    const challenges = parseChallenges(res.headers.get("www-authenticate") ?? "");
    if (challenges.length === 0) return res;
    const auth = await this.#answer(challenges, what, sent);
    if (auth === undefined || auth === sent) return res;
    await res.body?.cancel();
    this.#authorization = auth;
    return await get();
  }

  async #answer(
    challenges: Challenge[],
    what: string,
    sent: string | undefined,
  ): Promise<string | undefined> {
    const bearer = challenges.find((c) => c.scheme === "bearer");
    if (bearer?.params.realm) return `Bearer ${await this.#token(bearer, what, sent)}`;
    const basic = challenges.find((c) => c.scheme === "basic");
    if (basic && this.opts.credentials) return basicAuthorization(this.opts.credentials);
    return undefined;
  }

  /**
   * A token for our scope from the challenge's realm: the cached one unless it is the one
   * the registry just refused (`sent`). Cached per realm, service, scope and credentials,
   * so an anonymous token never stands in for a user's nor one user's for another's.
   */
  async #token(ch: Challenge, what: string, sent?: string): Promise<string> {
    const realm = ch.params.realm;
    const service = ch.params.service;
    const creds = this.opts.credentials;
    const who = creds
      ? `${creds.username}\n${sha256Hex(new TextEncoder().encode(creds.password))}`
      : "";
    const key = TokenCache.key(realm, service, `${this.scope}\n${who}`);
    this.#tokenKey = key;
    this.#bearer = ch;
    const cached = this.#tokens.get(key);
    if (cached && `Bearer ${cached}` !== sent) return cached;
    this.#tokens.delete(key);
    // Requests running at once (parallel blobs) share one token request.
    let pending = this.#pendingToken.get(key);
    if (!pending) {
      pending = this.#fetchToken(ch, key, what).finally(() => this.#pendingToken.delete(key));
      this.#pendingToken.set(key, pending);
    }
    return await pending;
  }

  async #fetchToken(ch: Challenge, key: string, what: string): Promise<string> {
    const realm = ch.params.realm;
    const service = ch.params.service;
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw PolisError.invalid(`${what}: the registry's token realm "${realm}" is not a URL`);
    }
    this.#checkOffline(url.href, `${what}: token realm`);
    if (url.protocol !== "https:" && !isInsecureHost(url.host, this.opts.config)) {
      throw PolisError.invalid(`${what}: refusing to send credentials to ${realm} over HTTP`);
    }
    if (service) url.searchParams.set("service", service);
    for (const s of this.scope.split(" ").filter(Boolean)) url.searchParams.append("scope", s);
    const headers: Record<string, string> = {};
    if (this.opts.credentials) {
      url.searchParams.set("account", this.opts.credentials.username);
      headers.authorization = basicAuthorization(this.opts.credentials);
    }
    let res: Response;
    try {
      res = await fetch(url, { headers });
    } catch (e) {
      throw transient(`${what}: cannot reach the token server ${url.origin}`, e);
    }
    if (res.status === 401 || res.status === 403) {
      throw new PolisError(
        "invalid_argument",
        `${what}: unauthorized: the token server refused the credentials: ${await registryErrorText(
          res,
        )}`,
        { details: { registryStatus: res.status } },
      );
    }
    if (!res.ok) {
      const why = await registryErrorText(res);
      if (res.status >= 500) throw transient(`${what}: token server answered ${res.status}`);
      throw PolisError.invalid(`${what}: token server answered ${res.status}: ${why}`);
    }
    const body = await res.json().catch(() => ({})) as {
      token?: string;
      access_token?: string;
      expires_in?: number;
    };
    const token = body.token ?? body.access_token;
    if (!token) throw PolisError.invalid(`${what}: the token server sent no token`);
    this.#tokens.set(key, token, body.expires_in);
    return token;
  }
}
