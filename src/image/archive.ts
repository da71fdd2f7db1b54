/**
 * Reads what `load` accepts: a docker-save archive (manifest.json) or an OCI
 * image layout (oci-layout + index.json), as a directory. Tars are first
 * extracted, safely, into a temp dir by `extractArchive`. The result lists
 * each image's config, layers and names, with the digests their blobs must
 * have; nothing here writes to the store.
 * @module
 */

import { PolisError } from "../core/errors.ts";
import { isDigest, sha256Hex } from "./content.ts";
import { canonicalName, parseReference } from "./reference.ts";
import { resolveInRoot } from "./rootpath.ts";
import { hostFsOps } from "./fsops.ts";
import { unpackLayer } from "./unpack.ts";

/** A file inside the archive dir and what it must hash to, when known. */
export interface SourceBlob {
  /** Host path, resolved inside the archive dir. */
  path: string;
  expected?: string;
  size?: number;
  mediaType?: string;
}

export interface SourceImage {
  /** Canonical names ("docker.io/library/busybox:latest"). */
  names: string[];
  config: SourceBlob;
  layers: SourceBlob[];
  /** OCI layouts carry a manifest; docker-save archives do not. */
  manifest?: SourceBlob;
  /** Where the image came from in the archive, for errors. */
  origin: string;
}

export const MEDIA = {
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociIndex: "application/vnd.oci.image.index.v1+json",
  ociConfig: "application/vnd.oci.image.config.v1+json",
  ociLayer: "application/vnd.oci.image.layer.v1.tar",
  ociLayerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerList: "application/vnd.docker.distribution.manifest.list.v2+json",
  dockerConfig: "application/vnd.docker.container.image.v1+json",
} as const;

const CONFIG_TYPES = new Set<string>([MEDIA.ociConfig, MEDIA.dockerConfig]);
const MAX_JSON = 8 * 1024 * 1024;

/** Extracts a tar (optionally gzip'd) into `dest` with the layer extractor's safety rules. */
export async function extractArchive(
  input: ReadableStream<Uint8Array>,
  dest: string,
): Promise<void> {
  await unpackLayer(input, dest, {
    format: "plain",
    ops: hostFsOps,
    privileged: false,
    label: "image archive",
    noun: "archive",
  });
}

/** Lists the images of an archive dir; docker-save's manifest.json wins over index.json. */
export function readImageDir(dir: string): SourceImage[] {
  if (fileExists(dir, "manifest.json")) return readDockerArchive(dir);
  if (fileExists(dir, "index.json")) return readOciLayout(dir);
  throw PolisError.invalid(
    "not an image archive: neither manifest.json (docker save) nor index.json (OCI layout) found",
  );
}

function fileExists(dir: string, rel: string): boolean {
  try {
    return Deno.statSync(resolveInRoot(dir, rel)).isFile;
  } catch {
    return false;
  }
}

/** A regular file inside `dir` (symlinks resolved inside it). */
function inside(dir: string, rel: string, what: string): string {
  const path = resolveInRoot(dir, rel);
  let info: Deno.FileInfo;
  try {
    info = Deno.lstatSync(path);
  } catch {
    throw PolisError.invalid(`image archive: ${what} "${rel}" is missing`);
  }
  if (!info.isFile) throw PolisError.invalid(`image archive: ${what} "${rel}" is not a file`);
  return path;
}

function readJson(path: string, what: string, expected?: string): unknown {
  const size = Deno.statSync(path).size;
  if (size > MAX_JSON) throw PolisError.invalid(`image archive: ${what} is too large (${size} B)`);
  const bytes = Deno.readFileSync(path);
  if (expected !== undefined && `sha256:${sha256Hex(bytes)}` !== expected) {
    throw PolisError.invalid(
      `image archive: ${what}: content does not match its digest`,
    );
  }
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw PolisError.invalid(`image archive: ${what} is not valid JSON: ${(e as Error).message}`);
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

// ------------------------------------------------------------------ docker save

function readDockerArchive(dir: string): SourceImage[] {
  const manifest = readJson(inside(dir, "manifest.json", "file"), "manifest.json");
  if (!Array.isArray(manifest)) {
    throw PolisError.invalid("image archive: manifest.json is not a list");
  }
  return manifest.map((entry, i) => {
    const origin = `manifest.json entry ${i}`;
    if (!isObject(entry) || typeof entry.Config !== "string" || !Array.isArray(entry.Layers)) {
      throw PolisError.invalid(`image archive: ${origin} lacks Config or Layers`);
    }
    const tags = Array.isArray(entry.RepoTags) ? entry.RepoTags : [];
    const names = tags.map((t) => {
      if (typeof t !== "string") throw PolisError.invalid(`image archive: ${origin}: bad RepoTags`);
      return canonicalName(t);
    });
    return {
      names,
      origin,
      config: {
        path: inside(dir, entry.Config, "config"),
        expected: digestFromPath(entry.Config, true),
        mediaType: MEDIA.dockerConfig,
      },
      layers: entry.Layers.map((l: unknown) => {
        if (typeof l !== "string") throw PolisError.invalid(`image archive: ${origin}: bad Layers`);
        return { path: inside(dir, l, "layer"), expected: digestFromPath(l, false) };
      }),
    };
  });
}

/**
 * The digest a docker-save path promises: `blobs/sha256/<hex>` (docker 25+),
 * or for configs also `<hex>.json`. Older `<id>/layer.tar` names promise
 * nothing; those layers are checked against the config's diff ids instead.
 */
function digestFromPath(path: string, isConfig: boolean): string | undefined {
  const blob = /^(?:\.\/)?blobs\/sha256\/([a-f0-9]{64})$/.exec(path);
  if (blob) return `sha256:${blob[1]}`;
  const json = isConfig ? /^(?:\.\/)?([a-f0-9]{64})\.json$/.exec(path) : null;
  return json ? `sha256:${json[1]}` : undefined;
}

// ------------------------------------------------------------------ OCI layout

interface Descriptor {
  mediaType?: string;
  digest: string;
  size?: number;
  annotations?: Record<string, string>;
  platform?: { os?: string; architecture?: string; variant?: string };
}

function descriptor(v: unknown, what: string): Descriptor {
  if (!isObject(v) || typeof v.digest !== "string") {
    throw PolisError.invalid(`image archive: ${what} is not a descriptor`);
  }
  if (!isDigest(v.digest)) {
    throw PolisError.invalid(`image archive: ${what} has an unsupported digest "${v.digest}"`);
  }
  if (v.size !== undefined && (typeof v.size !== "number" || v.size < 0)) {
    throw PolisError.invalid(`image archive: ${what} has a bad size`);
  }
  return v as unknown as Descriptor;
}

function blobPath(dir: string, d: Descriptor, what: string): string {
  return inside(dir, `blobs/sha256/${d.digest.slice("sha256:".length)}`, what);
}

/** Host platform in OCI terms. */
export function hostPlatform(): { os: string; architecture: string } {
  const arch = Deno.build.arch === "aarch64" ? "arm64" : "amd64";
  return { os: "linux", architecture: arch };
}

function namesFromAnnotations(a: Record<string, string> | undefined, origin: string): string[] {
  const full = a?.["io.containerd.image.name"];
  const ref = a?.["org.opencontainers.image.ref.name"];
  const name = full ?? (ref !== undefined && /[:/@]/.test(ref) ? ref : undefined);
  // A bare ref.name ("latest", "v1") is only a tag with no repository: the image loads untagged.
  if (name === undefined) return [];
  try {
    parseReference(name);
  } catch (e) {
    throw PolisError.invalid(`image archive: ${origin}: ${(e as Error).message}`);
  }
  return [canonicalName(name)];
}

function readOciLayout(dir: string): SourceImage[] {
  const index = readJson(inside(dir, "index.json", "file"), "index.json");
  if (!isObject(index) || !Array.isArray(index.manifests)) {
    throw PolisError.invalid("image archive: index.json has no manifests list");
  }
  const byManifest = new Map<string, SourceImage>();
  index.manifests.forEach((raw, i) => {
    const origin = `index.json manifest ${i}`;
    const d = descriptor(raw, origin);
    const names = namesFromAnnotations(d.annotations, origin);
    const m = resolveManifest(dir, d, origin, 0);
    const key = m.manifest!.expected!;
    const seen = byManifest.get(key);
    if (seen) {
      for (const n of names) if (!seen.names.includes(n)) seen.names.push(n);
    } else {
      byManifest.set(key, { ...m, names });
    }
  });
  return [...byManifest.values()];
}

/** Follows an index to the host's platform; returns the image a manifest describes. */
function resolveManifest(
  dir: string,
  d: Descriptor,
  origin: string,
  depth: number,
): Omit<SourceImage, "names"> {
  if (depth > 4) throw PolisError.invalid(`image archive: ${origin}: indexes nested too deeply`);
  const path = blobPath(dir, d, "manifest");
  const doc = readJson(path, `manifest ${d.digest}`, d.digest);
  if (!isObject(doc)) {
    throw PolisError.invalid(`image archive: manifest ${d.digest} is not an object`);
  }
  const mediaType = d.mediaType ?? (doc.mediaType as string | undefined);
  const isIndex = mediaType === MEDIA.ociIndex || mediaType === MEDIA.dockerList ||
    (mediaType === undefined && Array.isArray(doc.manifests));
  if (isIndex) {
    if (!Array.isArray(doc.manifests)) {
      throw PolisError.invalid(`image archive: index ${d.digest} has no manifests`);
    }
    const want = hostPlatform();
    const entries = doc.manifests.map((m, i) => descriptor(m, `index ${d.digest} entry ${i}`));
    const match = entries.find((e) =>
      e.platform?.os === want.os && e.platform?.architecture === want.architecture
    );
    if (!match) {
      const found = entries.map((e) => `${e.platform?.os}/${e.platform?.architecture}`).join(", ");
      throw PolisError.invalid(
        `image archive: ${origin}: no image for ${want.os}/${want.architecture} (has ${
          found || "none"
        })`,
      );
    }
    return resolveManifest(dir, match, origin, depth + 1);
  }
  if (!isObject(doc.config) || !Array.isArray(doc.layers)) {
    throw PolisError.invalid(`image archive: manifest ${d.digest} lacks config or layers`);
  }
  const config = descriptor(doc.config, `manifest ${d.digest} config`);
  if (config.mediaType !== undefined && !CONFIG_TYPES.has(config.mediaType)) {
    throw PolisError.invalid(
      `image archive: ${origin} is not a container image (config type ${config.mediaType})`,
    );
  }
  return {
    origin,
    manifest: {
      path,
      expected: d.digest,
      size: d.size,
      mediaType: mediaType ?? MEDIA.ociManifest,
    },
    config: {
      path: blobPath(dir, config, "config"),
      expected: config.digest,
      size: config.size,
      mediaType: config.mediaType ?? MEDIA.ociConfig,
    },
    layers: doc.layers.map((l, i) => {
      const ld = descriptor(l, `manifest ${d.digest} layer ${i}`);
      return {
        path: blobPath(dir, ld, "layer"),
        expected: ld.digest,
        size: ld.size,
        mediaType: ld.mediaType,
      };
    }),
  };
}
