/**
 * A pull: reference → manifest (an index resolved to the host's or the asked platform)
 * → config and layers into the blob store → one commit of the image record. Layers are
 * fetched a few at a time, each streamed through sha256 into a partial file that
 * survives interruptions (the next attempt asks only for the rest with a Range). The
 * image's blobs are held on disk before the first byte is fetched, so a crash or a kill
 * at any point leaves no image, and the next pull reuses every finished blob.
 *
 * @example
 * ```ts
 * const r = await pullImage(images, "127.0.0.1:5000/app:1", {
 *   onProgress: (p) => console.log(p.id ?? "", p.status),
 * });
 * console.log(r.id); // "sha256:…" (the config digest)
 * ```
 * @module
 */

import { PolisError } from "../../core/errors.ts";
import { logger } from "../../core/log.ts";
import type { BlobDownloader, BlobIngester, BlobReader } from "../content.ts";
import { canonicalName, familiarName, parseReference, repositoryName } from "../reference.ts";
import type { ImageRecord, PulledImage } from "../store.ts";
import type { Credentials } from "./auth.ts";
import { TokenCache } from "./auth.ts";
import { type ClientOptions, RegistryClient, type RegistryConfig } from "./client.ts";
import { type Descriptor, type Manifest, parseManifest } from "./manifest.ts";
import {
  formatPlatform,
  hostPlatform,
  parsePlatform,
  type Platform,
  platformRank,
  selectPlatform,
} from "./platform.ts";

/** One line of progress, shaped like docker's JSON messages. */
export interface PullProgress {
  /** A layer's short digest, or the tag/digest being pulled. */
  id?: string;
  status: string;
  current?: number;
  total?: number;
}

export interface PullOptions {
  /** `os/arch[/variant]`; default the host's. */
  platform?: string;
  credentials?: Credentials;
  config?: RegistryConfig;
  onProgress?: (p: PullProgress) => void;
  /** Layers fetched at once (default 3). */
  concurrency?: number;
  /** Attempts after the first when a blob download fails transiently (default 8). */
  retries?: number;
  /** First delay between those attempts, doubling up to 8 s (default 250 ms). */
  backoffMs?: number;
  /** Shared Bearer tokens (default: one cache per process). */
  tokens?: TokenCache;
  /** Passed to the registry client (retries of single requests, timeouts). */
  client?: Omit<ClientOptions, "config" | "credentials" | "tokens">;
}

export interface PullResult {
  /** The image id: its config digest. */
  id: string;
  /** The familiar reference pulled: "busybox:latest", "127.0.0.1:5000/x@sha256:…". */
  reference: string;
  /** The digest the reference resolved to (an index's digest for multi-platform images). */
  digest: string;
  /** False when the store already had this image under this name. */
  downloaded: boolean;
}

/** What a pull needs from the image store. */
export interface PullStore {
  readonly reader: BlobReader;
  readonly ingester: BlobIngester;
  readonly downloader: BlobDownloader;
  holdBlobs(key: string, digests: string[]): void;
  releaseBlobs(key: string, discard?: boolean): void;
  commitPulled(img: PulledImage): Promise<ImageRecord>;
  get(ref: string): ImageRecord;
}

const processTokens = new TokenCache();
const PROGRESS_EVERY_MS = 100;

const short = (digest: string) => digest.slice("sha256:".length, "sha256:".length + 12);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function pullImage(
  store: PullStore,
  refText: string,
  opts: PullOptions = {},
): Promise<PullResult> {
  const ref = parseReference(refText);
  const emit = (p: PullProgress) => opts.onProgress?.(p);
  const want = opts.platform ? parsePlatform(opts.platform) : hostPlatform();
  const client = new RegistryClient(ref.domain, ref.path, {
    ...opts.client,
    config: opts.config,
    credentials: opts.credentials,
    tokens: opts.tokens ?? processTokens,
  });
  const tagOrDigest = ref.digest ?? ref.tag!;
  emit({ id: tagOrDigest, status: `Pulling from ${familiarRepo(ref.domain, ref.path)}` });

  // Manifests: the reference's own, then the platform's when it is an index.
  const top = await client.getManifest(tagOrDigest);
  const topDoc = parseManifest(top.bytes, top.contentType, `${familiarName(ref)}`);
  let image: Extract<Manifest, { kind: "image" }>;
  let imageManifest = top;
  const extra: { digest: string; bytes: Uint8Array }[] = [];
  if (topDoc.kind === "index") {
    const choice = selectPlatform(topDoc.manifests, want);
    if (!choice) {
      const has = topDoc.manifests.filter((m) => m.platform).map((m) =>
        formatPlatform(m.platform!)
      );
      throw PolisError.notFound(
        `no matching manifest for ${formatPlatform(want)} in the manifest list entries of ` +
          `${familiarName(ref)} (it has ${has.join(", ") || "none"})`,
      );
    }
    imageManifest = await client.getManifest(choice.digest);
    if (imageManifest.bytes.byteLength !== choice.size) {
      throw PolisError.invalid(
        `manifest ${choice.digest}: ${imageManifest.bytes.byteLength} bytes, the index says ${choice.size}`,
      );
    }
    const doc = parseManifest(imageManifest.bytes, imageManifest.contentType, choice.digest);
    if (doc.kind !== "image") {
      throw PolisError.invalid(`${familiarName(ref)}: nested indexes are not supported`);
    }
    image = doc;
    extra.push({ digest: top.digest, bytes: top.bytes });
  } else {
    image = topDoc;
  }

  const layers = image.layers;
  const holdKey = imageManifest.digest.slice("sha256:".length);
  const all = [
    image.config.digest,
    imageManifest.digest,
    ...extra.map((e) => e.digest),
    ...layers.map((l) => l.digest),
  ];
  // Written before any fetch: from here on a crash keeps what this pull finished.
  store.holdBlobs(holdKey, all);
  try {
    for (const m of [{ digest: imageManifest.digest, bytes: imageManifest.bytes }, ...extra]) {
      await store.ingester.ingest(new Blob([m.bytes as Uint8Array<ArrayBuffer>]).stream(), {
        expected: m.digest,
        label: "manifest",
      });
    }
    const fetchBlob = (d: Descriptor, label: string, onProgress?: (n: number) => void) =>
      withRetries(
        () =>
          store.downloader.download(d.digest, (offset) => client.openBlob(d.digest, offset), {
            size: d.size,
            label,
            onProgress,
          }),
        opts,
        `${label} ${d.digest}`,
      );
    await fetchBlob(image.config, "config");
    checkConfigPlatform(store, image.config.digest, want, opts.platform !== undefined, ref);

    const unique = [...new Map(layers.map((l) => [l.digest, l])).values()];
    for (const l of unique) {
      if (store.reader.has(l.digest)) emit({ id: short(l.digest), status: "Already exists" });
      else emit({ id: short(l.digest), status: "Pulling fs layer" });
    }
    const todo = unique.filter((l) => !store.reader.has(l.digest));
    await pool(todo, opts.concurrency ?? 3, async (l) => {
      const id = short(l.digest);
      let last = 0;
      await fetchBlob(l, "layer", (current) => {
        const now = Date.now();
        if (now - last < PROGRESS_EVERY_MS && current < l.size) return;
        last = now;
        emit({ id, status: "Downloading", current, total: l.size });
      });
      emit({ id, status: "Download complete" });
    });

    let before: ImageRecord | undefined;
    try {
      before = store.get(canonicalName(ref));
    } catch {
      // not here yet
    }
    const names = [`${repositoryName(ref)}@${top.digest}`];
    if (ref.tag !== undefined) names.unshift(canonicalName({ ...ref, digest: undefined }));
    for (const l of todo) emit({ id: short(l.digest), status: "Extracting" });
    const rec = await store.commitPulled({
      configDigest: image.config.digest,
      manifestDigest: imageManifest.digest,
      layers: layers.map((l) => ({ digest: l.digest, mediaType: l.mediaType })),
      names,
      extraBlobs: extra.map((e) => e.digest),
    });
    store.releaseBlobs(holdKey);
    for (const l of todo) emit({ id: short(l.digest), status: "Pull complete" });
    const downloaded = before?.id !== rec.id;
    const reference = familiarName(ref);
    emit({ status: `Digest: ${top.digest}` });
    emit({
      status: downloaded
        ? `Status: Downloaded newer image for ${reference}`
        : `Status: Image is up to date for ${reference}`,
    });
    return { id: rec.id, reference, digest: top.digest, downloaded };
  } catch (e) {
    // A transient failure keeps the hold (the next pull resumes); anything else is final.
    if (!(e instanceof PolisError && e.code === "unavailable")) {
      try {
        store.releaseBlobs(holdKey, true);
      } catch (cleanupErr) {
        if (e instanceof PolisError) e.cleanupErrors.push(cleanupErr);
      }
    }
    throw e;
  }
}

function familiarRepo(domain: string, path: string): string {
  return familiarName(`${domain}/${path}`).replace(/:latest$/, "");
}

/** With `--platform`, an image that is not a list must still be for that platform. */
function checkConfigPlatform(
  store: PullStore,
  configDigest: string,
  want: Platform,
  explicit: boolean,
  ref: ReturnType<typeof parseReference>,
): void {
  let cfg: { os?: unknown; architecture?: unknown; variant?: unknown };
  try {
    cfg = JSON.parse(new TextDecoder().decode(store.reader.readBytes(configDigest)));
  } catch {
    throw PolisError.invalid(`image config ${configDigest} is not valid JSON`);
  }
  if (typeof cfg.os !== "string" || typeof cfg.architecture !== "string") return;
  const have: Platform = { os: cfg.os, architecture: cfg.architecture };
  if (typeof cfg.variant === "string" && cfg.variant) have.variant = cfg.variant;
  if (platformRank(want, have) !== undefined) return;
  const msg = `image ${familiarName(ref)} is for ${formatPlatform(have)}, not ${
    formatPlatform(want)
  }`;
  if (explicit) throw PolisError.invalid(msg);
  logger.warn(msg);
}

/** Runs `fn` again after transient failures (`unavailable`), with a growing delay. */
async function withRetries<T>(
  fn: () => Promise<T>,
  opts: PullOptions,
  what: string,
): Promise<T> {
  const retries = opts.retries ?? 8;
  const base = opts.backoffMs ?? 250;
  for (let attempt = 0;; attempt++) {
    try {
      return await fn();
    } catch (e) {
      const err = e instanceof PolisError ? e : transientFrom(e, what);
      if (err.code !== "unavailable" || attempt >= retries) throw err;
      logger.info("download failed; resuming", { what, attempt, error: err.message });
      await sleep(Math.min(8000, base * 2 ** attempt));
    }
  }
}

/** Errors from a body stream (connection reset) are worth a retry; file errors are not. */
function transientFrom(e: unknown, what: string): PolisError {
  if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.PermissionDenied) {
    return PolisError.internal(`${what}: ${(e as Error).message}`, e);
  }
  const msg = e instanceof Error ? e.message : String(e);
  if (/no space|ENOSPC|read-only file system/i.test(msg)) {
    return PolisError.internal(`${what}: ${msg}`, e);
  }
  return new PolisError("unavailable", `${what}: ${msg}`, { cause: e });
}

/** Runs `fn` over `items`, at most `limit` at a time; the first failure stops new starts. */
async function pool<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed: unknown;
  const worker = async () => {
    while (failed === undefined && next < items.length) {
      const item = items[next++];
      try {
        await fn(item);
      } catch (e) {
        failed ??= e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failed !== undefined) throw failed;
}
