/**
 * A push: an image's config and layer blobs to a repository (each checked with HEAD
 * first and uploaded only when missing, streamed from the blob store), then a fresh OCI
 * manifest PUT under the tag. Blobs go a few at a time; the manifest only after all of
 * them, so a failed push never publishes a tag that points at missing content.
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

export interface PushOptions {
  credentials?: Credentials;
  config?: RegistryConfig;
  tokens?: TokenCache;
  /** Blobs uploaded at once (default 3). */
  concurrency?: number;
  /** One line per blob: "Pushed" or "Layer already exists", docker's words. */
  onProgress?: (p: { id: string; status: string }) => void;
  client?: Omit<ClientOptions, "config" | "credentials" | "tokens" | "push">;
}

export interface PushResult {
  /** The familiar reference pushed ("127.0.0.1:5000/app:1"). */
  reference: string;
  /** The manifest's digest and size, as docker prints them. */
  digest: string;
  size: number;
}

const processTokens = new TokenCache();
const short = (digest: string) => digest.slice("sha256:".length, "sha256:".length + 12);

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
  const client = new RegistryClient(ref.domain, ref.path, {
    ...opts.client,
    config: opts.config,
    credentials: opts.credentials,
    tokens: opts.tokens ?? processTokens,
    push: true,
  });
  const emit = (id: string, status: string) => opts.onProgress?.({ id, status });
  const one = async (b: ExportBlob) => {
    if (await client.hasBlob(b.digest)) return emit(short(b.digest), "Layer already exists");
    emit(short(b.digest), "Pushing");
    await client.uploadBlob(b.digest, b.size, async () => (await Deno.open(b.path)).readable);
    emit(short(b.digest), "Pushed");
  };
  const blobs = [...new Map([...img.layers, img.config].map((b) => [b.digest, b])).values()];
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
