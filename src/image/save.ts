/**
 * `save`: images as one tar stream, either an OCI image layout ("oci") or a docker-save
 * archive ("docker-archive"), which is that same layout plus docker's manifest.json (as
 * docker 25+ writes it), so both `docker load`-style readers and OCI readers take it.
 * Blobs are streamed from the store in order, never held in memory; the manifests are
 * written fresh (OCI media types) since a loaded image may have none of its own.
 *
 * @example
 * ```ts
 * const tar = saveImages([store.exportParts("busybox")], "docker-archive");
 * await tar.pipeTo((await Deno.create("busybox.tar")).writable);
 * ```
 * @module
 */

import { PolisError } from "../core/errors.ts";
import { MEDIA } from "./archive.ts";
import { sha256Hex } from "./content.ts";
import type { ExportBlob, ExportParts } from "./store.ts";

export type SaveFormat = "docker-archive" | "oci";

export const SAVE_FORMATS: readonly SaveFormat[] = ["docker-archive", "oci"];

const encoder = new TextEncoder();

/** OCI media type for a stored layer's type (docker's are renamed, content is the same). */
function ociLayerType(mediaType: string): string {
  if (mediaType === "application/vnd.docker.image.rootfs.diff.tar.gzip") return MEDIA.ociLayerGzip;
  if (mediaType === "application/vnd.docker.image.rootfs.diff.tar") return MEDIA.ociLayer;
  return mediaType;
}

/** One 512-byte ustar header for a regular file (names here are short: < 100 bytes). */
export function tarHeader(name: string, size: number, mtime = 0): Uint8Array {
  const h = new Uint8Array(512);
  const put = (text: string, off: number, len: number) => {
    const b = encoder.encode(text);
    if (b.length > len) throw PolisError.internal(`tar header field too long: ${text}`);
    h.set(b, off);
  };
  const octal = (n: number, len: number) => n.toString(8).padStart(len - 1, "0");
  put(name, 0, 100);
  put(octal(0o644, 8), 100, 8);
  put(octal(0, 8), 108, 8);
  put(octal(0, 8), 116, 8);
  put(octal(size, 12), 124, 12);
  put(octal(mtime, 12), 136, 12);
  h.fill(0x20, 148, 156); // the checksum counts its own field as spaces
  put("0", 156, 1);
  put("ustar\u000000", 257, 8);
  let sum = 0;
  for (const b of h) sum += b;
  put(octal(sum, 7) + "\0", 148, 8);
  return h;
}

interface Entry {
  name: string;
  size: number;
  /** Bytes in memory (small JSON), or a file to stream. */
  bytes?: Uint8Array;
  path?: string;
}

async function* tarChunks(entries: Entry[]): AsyncGenerator<Uint8Array> {
  for (const e of entries) {
    yield tarHeader(e.name, e.size);
    let written = 0;
    if (e.bytes) {
      yield e.bytes;
      written = e.bytes.byteLength;
    } else {
      const f = await Deno.open(e.path!, { read: true });
      try {
        const buf = new Uint8Array(256 * 1024);
        for (;;) {
          const n = await f.read(buf);
          if (n === null) break;
          written += n;
          if (written > e.size) break;
          yield buf.slice(0, n);
        }
      } finally {
        f.close();
      }
    }
    if (written !== e.size) {
      throw PolisError.internal(`save: ${e.name} has ${written} bytes, expected ${e.size}`);
    }
    const pad = (512 - (e.size % 512)) % 512;
    if (pad) yield new Uint8Array(pad);
  }
  yield new Uint8Array(1024);
}

const blobName = (digest: string) => `blobs/sha256/${digest.slice("sha256:".length)}`;

/** A fresh OCI image manifest for an image's parts (what `save` and `push` send). */
export function ociManifest(img: ExportParts): Uint8Array {
  const descriptor = (b: ExportBlob, mediaType: string) => ({
    mediaType,
    digest: b.digest,
    size: b.size,
  });
  return encoder.encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: MEDIA.ociManifest,
    config: descriptor(img.config, MEDIA.ociConfig),
    layers: img.layers.map((l) => descriptor(l, ociLayerType(l.mediaType))),
  }));
}

/** The tar entries of a save of `images` (each with its parts from the store). */
export function saveEntries(images: ExportParts[], format: SaveFormat): Entry[] {
  const blobs = new Map<string, Entry>();
  const addBlob = (b: { digest: string; size: number; path?: string; bytes?: Uint8Array }) => {
    if (!blobs.has(b.digest)) {
      blobs.set(b.digest, { name: blobName(b.digest), size: b.size, path: b.path, bytes: b.bytes });
    }
  };
  const index: Record<string, unknown>[] = [];
  const dockerManifest: Record<string, unknown>[] = [];
  for (const img of images) {
    const manifest = ociManifest(img);
    const mDigest = `sha256:${sha256Hex(manifest)}`;
    addBlob(img.config);
    for (const l of img.layers) addBlob(l);
    addBlob({ digest: mDigest, size: manifest.byteLength, bytes: manifest });
    const desc = { mediaType: MEDIA.ociManifest, digest: mDigest, size: manifest.byteLength };
    const tags = img.record.repoTags;
    if (tags.length === 0) index.push(desc);
    for (const t of tags) {
      const tag = t.slice(t.lastIndexOf(":") + 1);
      index.push({
        ...desc,
        annotations: {
          "io.containerd.image.name": t,
          "org.opencontainers.image.ref.name": tag,
        },
      });
    }
    dockerManifest.push({
      Config: blobName(img.config.digest),
      RepoTags: tags,
      Layers: img.layers.map((l) => blobName(l.digest)),
    });
  }
  const json = (name: string, value: unknown): Entry => {
    const bytes = encoder.encode(JSON.stringify(value));
    return { name, size: bytes.byteLength, bytes };
  };
  const entries: Entry[] = [
    json("oci-layout", { imageLayoutVersion: "1.0.0" }),
    ...blobs.values(),
    json("index.json", { schemaVersion: 2, mediaType: MEDIA.ociIndex, manifests: index }),
  ];
  if (format === "docker-archive") entries.push(json("manifest.json", dockerManifest));
  return entries;
}

/** A tar stream of the images, pulled by its reader (bounded memory). */
export function saveImages(images: ExportParts[], format: SaveFormat): ReadableStream<Uint8Array> {
  const it = tarChunks(saveEntries(images, format));
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const r = await it.next();
      if (r.done) controller.close();
      else controller.enqueue(r.value);
    },
    async cancel() {
      await it.return(undefined);
    },
  }, { highWaterMark: 0 });
}
