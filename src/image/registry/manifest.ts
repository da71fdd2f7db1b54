/**
 * Manifests as registries serve them: OCI image manifest and index, Docker schema2
 * manifest and manifest list. Parsing checks what a pull relies on (descriptors with
 * sha256 digests and sizes, known config and layer types) and says clearly what is not
 * supported (schema1, foreign layers, artifacts that are not container images).
 * @module
 */

import { PolisError } from "../../core/errors.ts";
import type { Platform } from "./platform.ts";

export const MEDIA_TYPES = {
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociIndex: "application/vnd.oci.image.index.v1+json",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerList: "application/vnd.docker.distribution.manifest.list.v2+json",
  ociConfig: "application/vnd.oci.image.config.v1+json",
  dockerConfig: "application/vnd.docker.container.image.v1+json",
} as const;

/** What a pull asks for, most wanted first. */
export const MANIFEST_ACCEPT = [
  MEDIA_TYPES.ociIndex,
  MEDIA_TYPES.dockerList,
  MEDIA_TYPES.ociManifest,
  MEDIA_TYPES.dockerManifest,
].join(", ");

const LAYER_TYPES = new Set([
  "application/vnd.oci.image.layer.v1.tar",
  "application/vnd.oci.image.layer.v1.tar+gzip",
  "application/vnd.oci.image.layer.v1.tar+zstd",
  "application/vnd.docker.image.rootfs.diff.tar.gzip",
  "application/vnd.docker.image.rootfs.diff.tar",
]);
const FOREIGN_TYPES = new Set([
  "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
  "application/vnd.oci.image.layer.nondistributable.v1.tar",
  "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
  "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
]);
const CONFIG_TYPES = new Set<string>([MEDIA_TYPES.ociConfig, MEDIA_TYPES.dockerConfig]);

/** Manifests bigger than this are refused before parsing (the spec suggests 4 MiB). */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform;
  annotations?: Record<string, string>;
}

export type Manifest =
  | { kind: "index"; mediaType: string; manifests: Descriptor[] }
  | { kind: "image"; mediaType: string; config: Descriptor; layers: Descriptor[] };

const SHA256 = /^sha256:[a-f0-9]{64}$/;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function descriptor(v: unknown, what: string): Descriptor {
  const bad = (why: string) => PolisError.invalid(`${what}: ${why}`);
  if (!isObject(v)) throw bad("not an object");
  if (typeof v.digest !== "string") throw bad("no digest");
  if (!SHA256.test(v.digest)) throw bad(`unsupported digest "${v.digest}" (only sha256)`);
  if (typeof v.size !== "number" || !Number.isSafeInteger(v.size) || v.size < 0) {
    throw bad("no valid size");
  }
  const d: Descriptor = {
    mediaType: typeof v.mediaType === "string" ? v.mediaType : "",
    digest: v.digest,
    size: v.size,
  };
  if (isObject(v.platform)) {
    const p = v.platform;
    if (typeof p.os === "string" && typeof p.architecture === "string") {
      d.platform = { os: p.os, architecture: p.architecture };
      if (typeof p.variant === "string" && p.variant) d.platform.variant = p.variant;
    }
  }
  if (isObject(v.annotations)) d.annotations = v.annotations as Record<string, string>;
  return d;
}

/**
 * Parses a manifest document. `contentType` is the response's Content-Type; the
 * document's own mediaType wins when present, and the shape decides when neither says.
 */
export function parseManifest(bytes: Uint8Array, contentType: string | null, what: string) {
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw PolisError.invalid(`${what}: not valid JSON`);
  }
  if (!isObject(doc)) throw PolisError.invalid(`${what}: not a JSON object`);
  const header = contentType?.split(";")[0].trim().toLowerCase() || undefined;
  const mediaType = (typeof doc.mediaType === "string" ? doc.mediaType : undefined) ??
    (header && header !== "application/json" ? header : undefined) ??
    (Array.isArray(doc.manifests) ? MEDIA_TYPES.ociIndex : MEDIA_TYPES.ociManifest);
  if (
    doc.schemaVersion === 1 ||
    /^application\/vnd\.docker\.distribution\.manifest\.v1\+(?:prettyjws|json)$/.test(mediaType)
  ) {
    throw PolisError.invalid(
      `${what}: Docker schema 1 manifests are not supported (push the image again with a ` +
        "current client)",
    );
  }
  if (mediaType === MEDIA_TYPES.ociIndex || mediaType === MEDIA_TYPES.dockerList) {
    if (!Array.isArray(doc.manifests)) throw PolisError.invalid(`${what}: index has no manifests`);
    const manifests = doc.manifests.map((m, i) => descriptor(m, `${what}: manifest ${i}`));
    return { kind: "index", mediaType, manifests } satisfies Manifest as Manifest;
  }
  if (mediaType !== MEDIA_TYPES.ociManifest && mediaType !== MEDIA_TYPES.dockerManifest) {
    throw PolisError.invalid(`${what}: unsupported manifest type ${mediaType}`);
  }
  if (!isObject(doc.config) || !Array.isArray(doc.layers)) {
    throw PolisError.invalid(`${what}: manifest lacks config or layers`);
  }
  const config = descriptor(doc.config, `${what}: config`);
  if (config.mediaType && !CONFIG_TYPES.has(config.mediaType)) {
    throw PolisError.invalid(
      `${what} is not a container image (its config type is ${config.mediaType})`,
    );
  }
  const layers = doc.layers.map((l, i) => {
    const d = descriptor(l, `${what}: layer ${i}`);
    if (FOREIGN_TYPES.has(d.mediaType)) {
      throw PolisError.invalid(
        `${what}: layer ${i} is a foreign (non-distributable) layer, which Polis does not fetch`,
      );
    }
    if (d.mediaType && !LAYER_TYPES.has(d.mediaType)) {
      throw PolisError.invalid(`${what}: layer ${i} has unsupported type ${d.mediaType}`);
    }
    if (!d.mediaType) d.mediaType = "application/vnd.oci.image.layer.v1.tar+gzip";
    return d;
  });
  return { kind: "image", mediaType, config, layers } satisfies Manifest as Manifest;
}
