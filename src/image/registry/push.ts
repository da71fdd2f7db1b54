/**
 * A push: an image's config and layer blobs to a repository, then a fresh OCI manifest
 * PUT under the tag. Each blob is checked with HEAD first; a missing one is mounted from
 * another repository of the same registry the image was pulled from (no bytes move),
 * else uploaded from the blob store: small ones in one PUT, bigger ones in chunks (PATCH
 * per `chunkSize`, each read from the file as it is sent). Blobs go a few at a time; the
 * manifest only after all of them, so a failed push never publishes a tag that points at
 * missing content. Progress comes as docker's messages ("Preparing", "Pushing" with
 * current/total, "Pushed", "Layer already exists", "Mounted from REPO").
 *
 * @example
 * ```ts
 * const r = await pushImage(store.exportParts("app:1"), "127.0.0.1:5000/app:1");
 * console.log(r.digest, r.size);
 * ```
 * @module
 */

import { PolisError } from "../../core/errors.ts";
import { familiarName, parseReference } from "../reference.ts";
import { MEDIA } from "../archive.ts";
import { sha256Hex } from "../content.ts";
import { ociManifest } from "../save.ts";
import type { ExportBlob, ExportParts } from "../store.ts";
import type { Credentials } from "./auth.ts";
import { TokenCache } from "./auth.ts";
import { type ClientOptions, RegistryClient, type RegistryConfig } from "./client.ts";

export interface PushProgress {
  /** A blob's short digest; none for lines about the whole push. */
  id?: string;
  status: string;
  current?: number;
  total?: number;
}

export interface PushOptions {
  credentials?: Credentials;
  config?: RegistryConfig;
  tokens?: TokenCache;
  /** Blobs uploaded at once (default 3). */
  concurrency?: number;
  /** Blobs bigger than this go up in PATCH chunks of this size (default 8 MiB). */
  chunkSize?: number;
  onProgress?: (p: PushProgress) => void;
  client?: Omit<ClientOptions, "config" | "credentials" | "tokens" | "push" | "extraScopes">;
}

export interface PushResult {
  /** The familiar reference pushed ("127.0.0.1:5000/app:1"). */
  reference: string;
  /** The manifest's digest and size, as docker prints them. */
  digest: string;
  size: number;
}

export const DEFAULT_CHUNK_SIZE = 8 * 1024 * 1024;
const PROGRESS_EVERY_MS = 100;
const processTokens = new TokenCache();
const short = (digest: string) => digest.slice("sha256:".length, "sha256:".length + 12);

/**
 * Repositories of the target's registry the image came from (its repo digests, which a
 * pull or push records), other than the target: where its blobs can be mounted from.
 */
export function mountSources(img: ExportParts, domain: string, path: string): string[] {
  const out = new Set<string>();
  for (const d of img.record.repoDigests) {
    try {
      const r = parseReference(d);
      if (r.domain === domain && r.path !== path) out.add(r.path);
    } catch {
      // not a reference we can use
    }
  }
  return [...out];
}

/** `length` bytes of the file at `path` from `offset`, read as they are consumed. */
async function fileRange(
  path: string,
  offset: number,
  length: number,
  onRead?: (n: number) => void,
): Promise<ReadableStream<Uint8Array>> {
  const f = await Deno.open(path);
  try {
    await f.seek(offset, Deno.SeekMode.Start);
  } catch (e) {
    f.close();
    throw e;
  }
  let left = length;
  const close = () => {
    try {
      f.close();
    } catch {
      // closed
    }
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (left <= 0) {
        close();
        controller.close();
        return;
      }
      const buf = new Uint8Array(Math.min(left, 256 * 1024));
      const n = await f.read(buf);
      if (n === null) {
        close();
        controller.error(PolisError.internal(`${path}: shorter than its recorded size`));
        return;
      }
      left -= n;
      onRead?.(n);
      controller.enqueue(buf.subarray(0, n));
    },
    cancel() {
      close();
    },
  });
}

export async function pushImage(
  img: ExportParts,
  refText: string,
  opts: PushOptions = {},
): Promise<PushResult> {
  const ref = parseReference(refText);
  if (ref.digest !== undefined) {
    throw PolisError.invalid(`push ${refText}: push to a tag, not a digest`);
  }
  const tag = ref.tag ?? "latest";
  const sources = mountSources(img, ref.domain, ref.path);
  const client = new RegistryClient(ref.domain, ref.path, {
    ...opts.client,
    config: opts.config,
    credentials: opts.credentials,
    tokens: opts.tokens ?? processTokens,
    push: true,
    extraScopes: sources.map((s) => `repository:${s}:pull`),
  });
  const chunkSize = Math.max(1, opts.chunkSize ?? DEFAULT_CHUNK_SIZE);
  const emit = (p: PushProgress) => opts.onProgress?.(p);
  const repoName = familiarName({ ...ref, tag: undefined, digest: undefined });
  emit({ status: `The push refers to repository [${repoName}]` });

  const one = async (b: ExportBlob) => {
    const id = short(b.digest);
    if (await client.hasBlob(b.digest)) return emit({ id, status: "Layer already exists" });
    let location: string | undefined;
    for (const from of sources) {
      const m = await client.mountBlob(b.digest, from);
      if (m.mounted) return emit({ id, status: `Mounted from ${from}` });
      location = m.location;
      if (location) break; // the registry opened an upload session instead: use it
    }
    let last = 0;
    const progress = (current: number) => {
      const now = Date.now();
      if (now - last < PROGRESS_EVERY_MS && current < b.size) return;
      last = now;
      emit({ id, status: "Pushing", current, total: b.size });
    };
    progress(0);
    if (b.size <= chunkSize) {
      let sent = 0;
      await client.uploadBlob(
        b.digest,
        b.size,
        () => {
          sent = 0;
          return fileRange(b.path, 0, b.size, (n) => progress(sent += n));
        },
        location,
      );
    } else {
      await client.uploadBlobChunked(b.digest, b.size, (o, n) => fileRange(b.path, o, n), {
        chunkSize,
        location,
        onBytes: progress,
      });
    }
    emit({ id, status: "Pushed" });
  };
  const blobs = [...new Map([...img.layers, img.config].map((b) => [b.digest, b])).values()];
  for (const b of img.layers) emit({ id: short(b.digest), status: "Preparing" });
  let next = 0;
  let failed: { e: unknown } | undefined;
  const worker = async () => {
    while (!failed && next < blobs.length) {
      const b = blobs[next++];
      try {
        await one(b);
      } catch (e) {
        failed ??= { e };
      }
    }
  };
  const n = Math.max(1, Math.min(opts.concurrency ?? 3, blobs.length));
  await Promise.all(Array.from({ length: n }, worker));
  if (failed) throw failed.e;
  const manifest = ociManifest(img);
  await client.putManifest(tag, manifest, MEDIA.ociManifest);
  return {
    reference: familiarName({ ...ref, tag }),
    digest: `sha256:${sha256Hex(manifest)}`,
    size: manifest.byteLength,
  };
}
