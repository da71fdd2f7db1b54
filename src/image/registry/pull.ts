/**
 * A pull: reference → manifest (an index resolved to the host's or the asked platform)
 * → config and layers into the blob store → one commit of the image record. Layers are
 * fetched a few at a time, each streamed through sha256 into a partial file that
 * survives interruptions (the next attempt asks only for the rest with a Range), and
 * unpacked while it downloads: the unpacker follows the partial file (follow.ts), so a
 * retry of the network side never restarts it, and its layer dir is placed only once
 * both the diff id and the blob's digest check out. The image's blobs and layers are
 * held on disk before they are fetched, so a crash or a kill at any point leaves no
 * image, and the next pull reuses every finished blob and unpacked layer.
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
import { chainIds, parseImageConfig } from "../config.ts";
import type { BlobDownloader, BlobIngester, BlobReader } from "../content.ts";
import { Growth } from "../follow.ts";
import { canonicalName, familiarName, parseReference, repositoryName } from "../reference.ts";
import type { ImageRecord, PulledImage, PulledLayer } from "../store.ts";
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
  /** Keeps unpacked layers (chain ids) with the hold's blobs. */
  holdLayers(key: string, chainIds: string[]): void;
  releaseBlobs(key: string, discard?: boolean): void;
  hasLayer(chainId: string): boolean;
  /** Unpacks `input` (following the download) into the layer; placed once `verified`. */
  unpackPulledLayer(
    layer: PulledLayer,
    input: ReadableStream<Uint8Array>,
    verified: Promise<unknown>,
  ): Promise<void>;
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
    // One abort for the whole pull: a layer that fails for good stops the others.
    const abort = new AbortController();
    const fetchBlob = (
      d: Descriptor,
      label: string,
      more: { onProgress?: (n: number) => void; onWritten?: (n: number) => void } = {},
    ) =>
      withRetries(
        () =>
          store.downloader.download(d.digest, (offset) => client.openBlob(d.digest, offset), {
            size: d.size,
            label,
            signal: abort.signal,
            ...more,
          }),
        opts,
        `${label} ${d.digest}`,
        abort.signal,
      );
    await fetchBlob(image.config, "config");
    checkConfigPlatform(store, image.config.digest, want, opts.platform !== undefined, ref);
    const diffIds = parseImageConfig(
      new TextDecoder().decode(store.reader.readBytes(image.config.digest)),
      image.config.digest,
    ).diffIds;
    if (diffIds.length !== layers.length) {
      throw PolisError.invalid(
        `image ${image.config.digest}: the config lists ${diffIds.length} layers but the manifest has ${layers.length}`,
      );
    }
    // Known before any layer is fetched, so every layer can unpack on its own, in any order.
    const chains = chainIds(diffIds);
    store.holdLayers(holdKey, chains);

    const unique = [...new Map(layers.map((l) => [l.digest, l])).values()];
    /** Positions of the chains each blob still has to be unpacked to (one per chain). */
    const toUnpack = new Map<string, number[]>();
    chains.forEach((c, i) => {
      if (store.hasLayer(c) || chains.indexOf(c) !== i) return;
      toUnpack.set(layers[i].digest, [...toUnpack.get(layers[i].digest) ?? [], i]);
    });
    const todo = unique.filter((l) => !store.reader.has(l.digest) || toUnpack.has(l.digest));
    for (const l of unique) {
      emit({
        id: short(l.digest),
        status: todo.includes(l) ? "Pulling fs layer" : "Already exists",
      });
    }
    const throttled = (id: string, status: string, total: number) => {
      let last = 0;
      return (current: number) => {
        const now = Date.now();
        if (now - last < PROGRESS_EVERY_MS && current < total) return;
        last = now;
        emit({ id, status, current, total });
      };
    };
    await pool(todo, opts.concurrency ?? 3, async (l) => {
      const id = short(l.digest);
      const growth = new Growth();
      const verified = (store.reader.has(l.digest) ? Promise.resolve() : fetchBlob(l, "layer", {
        onProgress: throttled(id, "Downloading", l.size),
        onWritten: (n) => growth.wrote(n),
      }).then(() => emit({ id, status: "Download complete" }))).then(
        () => growth.end(),
        (e) => {
          growth.fail(e);
          throw e;
        },
      );
      const unpacks = (toUnpack.get(l.digest) ?? []).map((i) => {
        const onRead = throttled(id, "Extracting", l.size);
        return store.unpackPulledLayer(
          {
            chainId: chains[i],
            parent: i === 0 ? null : chains[i - 1],
            diffId: diffIds[i],
            blobDigest: l.digest,
          },
          store.downloader.follow(l.digest, growth, { onRead }),
          verified,
        );
      });
      // An unpack that fails lets its download end: bad bytes (a digest that does not
      // match) explain a broken tar better than the tar error does.
      const [fetched, ...unpacked] = await Promise.allSettled([verified, ...unpacks]);
      const failed = fetched.status === "rejected"
        ? fetched
        : unpacked.find((u): u is PromiseRejectedResult => u.status === "rejected");
      if (failed) {
        if (!abort.signal.aborted) abort.abort(failed.reason);
        throw failed.reason;
      }
      emit({ id, status: "Pull complete" });
    });

    let before: ImageRecord | undefined;
    try {
      before = store.get(canonicalName(ref));
    } catch {
      // not here yet
    }
    const names = [`${repositoryName(ref)}@${top.digest}`];
    if (ref.tag !== undefined) names.unshift(canonicalName({ ...ref, digest: undefined }));
    const rec = await store.commitPulled({
      configDigest: image.config.digest,
      manifestDigest: imageManifest.digest,
      layers: layers.map((l) => ({ digest: l.digest, mediaType: l.mediaType })),
      names,
      extraBlobs: extra.map((e) => e.digest),
    });
    store.releaseBlobs(holdKey);
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
  signal?: AbortSignal,
): Promise<T> {
  const retries = opts.retries ?? 8;
  const base = opts.backoffMs ?? 250;
  for (let attempt = 0;; attempt++) {
    try {
      return await fn();
    } catch (e) {
      // Stopped because another part of the pull failed: that failure is the story.
      if (signal?.aborted) throw signal.reason;
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
