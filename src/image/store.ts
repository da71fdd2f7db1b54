/**
 * Local images: `load` of docker-save archives and OCI layouts, names (tags),
 * removal with docker's rmi rules, and rootfs descriptions for containers.
 *
 * On disk under `root`: blobs in `blobs/sha256/<hex>`, unpacked layers in
 * `layers/<chain-id hex>/` (with short symlinks `l/<short>` that keep
 * overlay mount options under a page), temp work in `tmp/`, container rootfs
 * dirs in `containers/<id>/`. Rows in the engine's SQLite database say what
 * exists; files are written before the transaction that makes them visible
 * and deleted after the one that hides them, and whatever a crash strands in
 * between is swept when the store opens.
 *
 * @example
 * ```ts
 * const images = new ImageStore({ root: "/var/lib/polis", db });
 * await images.load("/tmp/busybox.tar");
 * const rootfs = images.prepareRootfs(images.get("busybox").id, containerId);
 * ```
 * @module
 */

import type { DatabaseSync } from "node:sqlite";
import { PolisError } from "../core/errors.ts";
import { fsyncDirSync, removeIfExistsSync, writeFileAtomicSync } from "../core/fs.ts";
import { logger } from "../core/log.ts";
import { extractArchive, MEDIA, readImageDir, type SourceBlob } from "./archive.ts";
import {
  type BlobDownloader,
  type BlobIngester,
  type BlobReader,
  BlobStore,
  digestHex,
  type IngestResult,
} from "./content.ts";
import { ImageDb, type ImageLayerRef, type ImageRow, type LayerRow } from "./db.ts";
import { type FsOps, hostFsOps, syncFilesystem } from "./fsops.ts";
import type { ImageConfig } from "./process.ts";
import { canonicalName, familiarName, parseReference } from "./reference.ts";
import { chainIds, parseImageConfig } from "./config.ts";
import { planRemoval } from "./rmi.ts";
import { checkOverlayFits, copyLayers, type RootfsDescription } from "./rootfs.ts";
import { detectCompression } from "./tar.ts";
import { unpackLayer, type WhiteoutFormat } from "./unpack.ts";

export interface ImageRecord {
  /** "sha256:<hex of the config blob>" */
  id: string;
  /** Familiar form: "busybox:latest", "localhost:5000/x:1". */
  repoTags: string[];
  repoDigests: string[];
  /** RFC 3339, from the config. */
  created: string;
  architecture: string;
  os: string;
  variant?: string;
  /** The config blob's "config" object. */
  config: ImageConfig;
  /** rootfs.diff_ids */
  diffIds: string[];
  chainIds: string[];
  /** Unpacked bytes (sum of the layers' file sizes). */
  size: number;
}

export interface ExportBlob {
  digest: string;
  mediaType: string;
  size: number;
  path: string;
}

export interface ExportParts {
  record: ImageRecord;
  config: ExportBlob;
  layers: ExportBlob[];
}

export interface RemoveImageResult {
  Untagged?: string;
  Deleted?: string;
}

export interface ImageInspect {
  Id: string;
  RepoTags: string[];
  RepoDigests: string[];
  Created: string;
  Architecture: string;
  Os: string;
  Variant?: string;
  Size: number;
  Config: ImageConfig;
  RootFS: { Type: "layers"; Layers: string[] };
}

/** What a registry pull hands over once every blob is in the store. */
export interface PulledImage {
  configDigest: string;
  /** The platform's image manifest. */
  manifestDigest: string;
  layers: { digest: string; mediaType: string }[];
  /** Canonical names: "host/repo:tag" (tag) and "host/repo@sha256:…" (digest). */
  names: string[];
  /** More blobs the image keeps (the index it was chosen from). */
  extraBlobs?: string[];
}

/** One layer of a pull, by its place in the image (chain ids follow from the config). */
export interface PulledLayer {
  chainId: string;
  /** The chain id below, recorded only. */
  parent: string | null;
  diffId: string;
  blobDigest: string;
}

/** Holds of unfinished pulls older than this are dropped when the store opens. */
export const DOWNLOAD_KEEP_MS = 7 * 24 * 3600 * 1000;

export interface ImageStoreOptions {
  /** Engine root, e.g. /var/lib/polis. */
  root: string;
  db: DatabaseSync;
  /** Use overlayfs rootfs descriptions; default: probe (root and overlay in /proc/filesystems). */
  overlay?: boolean;
  /** Privileged filesystem calls; default through ffi/. Tests pass a fake. */
  fsOps?: FsOps;
}

interface PreparedImage {
  row: ImageRow;
  layers: ImageLayerRef[];
  blobs: string[];
  names: string[];
}

const SHORT_LINK_LENGTH = 8;
const HEX = /^[a-f0-9]+$/;
const CONTAINER_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

function probeOverlay(root: string): boolean {
  if (Deno.uid() !== 0) return false;
  if (/[:,]/.test(root)) {
    logger.warn("root path holds ':' or ',', which overlay options cannot carry; copying rootfs", {
      root,
    });
    return false;
  }
  try {
    return /\toverlay$/m.test(Deno.readTextFileSync("/proc/filesystems"));
  } catch {
    return false;
  }
}

export class ImageStore {
  readonly root: string;
  /** The content store's roles; a registry client takes only `ingester`. */
  readonly reader: BlobReader;
  readonly ingester: BlobIngester;
  /** Resumable downloads into the store (partials kept in `<root>/downloads`). */
  readonly downloader: BlobDownloader;
  readonly overlay: boolean;
  private readonly blobs: BlobStore;
  private readonly idb: ImageDb;
  private readonly ops: FsOps;
  private readonly privileged: boolean;
  private readonly format: WhiteoutFormat;
  private readonly layersDir: string;
  private readonly linksDir: string;
  private readonly tmpDir: string;
  private readonly containersDir: string;
  /** Blobs and layers an unfinished load relies on; removal leaves them alone. */
  private readonly pinnedBlobs = new Set<string>();
  private readonly pinnedLayers = new Set<string>();
  /** Link names given to layers of the load in progress, not yet in the database. */
  private readonly pendingLinks = new Set<string>();
  /**
   * Blobs and unpacked layers (chain ids) unfinished pulls hold, by hold key (also on
   * disk as `downloads/hold-<key>.json`).
   */
  private readonly holds = new Map<string, Hold>();
  private queue: Promise<unknown> = Promise.resolve();

  constructor(opts: ImageStoreOptions) {
    this.root = opts.root.replace(/\/+$/, "");
    this.overlay = opts.overlay ?? probeOverlay(this.root);
    this.ops = opts.fsOps ?? hostFsOps;
    this.privileged = Deno.uid() === 0;
    this.format = this.overlay ? "overlay" : "plain";
    this.layersDir = `${this.root}/layers`;
    // Short absolute lower dirs (`/var/lib/polis/l/1a2b3c4d`, 27 bytes) let about 140
    // layers fit the one-page limit of overlay's mount options.
    this.linksDir = `${this.root}/l`;
    this.tmpDir = `${this.root}/tmp`;
    this.containersDir = `${this.root}/containers`;
    for (const d of [this.layersDir, this.linksDir, this.containersDir]) {
      Deno.mkdirSync(d, { recursive: true, mode: 0o700 });
    }
    // Layers are lower dirs of containers' overlays; their parents must be searchable.
    Deno.chmodSync(this.layersDir, 0o711);
    this.blobs = new BlobStore(this.root);
    this.reader = this.blobs;
    this.ingester = this.blobs;
    this.downloader = this.blobs;
    this.idb = new ImageDb(opts.db);
    this.sweep();
  }

  // ---------------------------------------------------------------- queries

  list(): ImageRecord[] {
    return this.idb.images().map((r) => this.record(r))
      .sort((a, b) => b.created.localeCompare(a.created) || a.id.localeCompare(b.id));
  }

  get(ref: string): ImageRecord {
    const id = this.resolve(ref);
    const row = id ? this.idb.image(id) : undefined;
    if (!row) throw PolisError.notFound(`No such image: ${ref}`);
    return this.record(row);
  }

  /** What `save` writes for an image: its record, config and layer blobs (paths on disk). */
  exportParts(ref: string): ExportParts {
    const record = this.get(ref);
    const blob = (digest: string, mediaType: string): ExportBlob => {
      const info = this.blobs.stat(digest);
      if (!info) throw PolisError.notFound(`image ${record.id}: blob ${digest} is missing`);
      return { digest, mediaType, size: info.size, path: this.blobs.path(digest) };
    };
    return {
      record,
      config: blob(record.id, MEDIA.ociConfig),
      layers: this.idb.imageLayers(record.id).map((l) => blob(l.blobDigest, l.mediaType)),
    };
  }

  inspect(ref: string): ImageInspect {
    const r = this.get(ref);
    const out: ImageInspect = {
      Id: r.id,
      RepoTags: r.repoTags,
      RepoDigests: r.repoDigests,
      Created: r.created,
      Architecture: r.architecture,
      Os: r.os,
      Size: r.size,
      Config: r.config,
      RootFS: { Type: "layers", Layers: r.diffIds },
    };
    if (r.variant !== undefined) out.Variant = r.variant;
    return out;
  }

  /** The image id `ref` names, by docker's order: full id, then name, then id prefix. */
  private resolve(ref: string): string | undefined {
    const full = /^(?:sha256:)?([a-f0-9]{64})$/.exec(ref);
    if (full && this.idb.image(`sha256:${full[1]}`)) return `sha256:${full[1]}`;
    let name: string | undefined;
    try {
      name = canonicalName(ref);
    } catch {
      // not a reference; may still be an id prefix
    }
    if (name !== undefined) {
      const id = this.idb.lookupName(name);
      if (id) return id;
    }
    const prefix = /^(?:sha256:)?([a-f0-9]{4,63})$/.exec(ref);
    if (prefix) {
      const ids = this.idb.imagesByPrefix(`sha256:${prefix[1]}`);
      if (ids.length > 1) {
        throw PolisError.invalid(
          `image id prefix "${ref}" is ambiguous: ${ids.length} images match`,
        );
      }
      return ids[0];
    }
    return undefined;
  }

  private record(row: ImageRow): ImageRecord {
    const cfg = parseImageConfig(row.config, row.id);
    const names = this.idb.names(row.id);
    const rec: ImageRecord = {
      id: row.id,
      repoTags: names.filter((n) => n.kind === "tag").map((n) => familiarName(n.name)),
      repoDigests: names.filter((n) => n.kind === "digest").map((n) => familiarName(n.name)),
      created: cfg.created,
      architecture: cfg.architecture,
      os: cfg.os,
      config: cfg.config,
      diffIds: cfg.diffIds,
      chainIds: chainIds(cfg.diffIds),
      size: row.size,
    };
    if (cfg.variant !== undefined) rec.variant = cfg.variant;
    return rec;
  }

  // ---------------------------------------------------------------- names

  tag(source: string, target: string): void {
    const id = this.get(source).id;
    const ref = parseReference(target);
    if (ref.digest !== undefined) {
      throw PolisError.invalid(`cannot tag with a digest reference "${target}"`);
    }
    this.idb.transaction(() => this.idb.setName(canonicalName(ref), "tag", id));
  }

  // ---------------------------------------------------------------- load

  /**
   * Loads every image of a docker-save archive or OCI layout: a directory, a
   * tar file (optionally gzip'd) or a tar stream. All or nothing: a bad blob
   * anywhere leaves no rows, blobs, layers or temp files behind.
   */
  load(source: string | ReadableStream<Uint8Array>): Promise<{ loaded: string[] }> {
    const run = this.queue.then(() => this.loadNow(source));
    this.queue = run.catch(() => {});
    return run;
  }

  private async loadNow(
    source: string | ReadableStream<Uint8Array>,
  ): Promise<{ loaded: string[] }> {
    const work = Deno.makeTempDirSync({ dir: this.tmpDir, prefix: "load-" });
    const createdBlobs: string[] = [];
    const newLayers = new Map<string, LayerRow>();
    const pinned: string[] = [];
    try {
      const dir = await this.openSource(source, work);
      const images = readImageDir(dir);
      if (images.length === 0) throw PolisError.invalid("image archive holds no images");
      const ingested = new Map<string, IngestResult>();
      const ingest = async (blob: SourceBlob, label: string): Promise<IngestResult> => {
        const cached = ingested.get(blob.path);
        if (cached) return cached;
        const opts = { expected: blob.expected, size: blob.size, label };
        const res = blob.path.startsWith(`${work}/`)
          ? await this.blobs.ingestTempFile(blob.path, opts)
          : await this.blobs.ingest((await Deno.open(blob.path)).readable, opts);
        ingested.set(blob.path, res);
        this.pinnedBlobs.add(res.digest);
        pinned.push(res.digest);
        if (res.created) createdBlobs.push(res.digest);
        return res;
      };

      const prepared: PreparedImage[] = [];
      for (const img of images) {
        const config = await ingest(img.config, "config");
        const manifest = img.manifest ? await ingest(img.manifest, "manifest") : undefined;
        const layers: { blob: IngestResult; mediaType?: string }[] = [];
        for (const l of img.layers) {
          layers.push({ blob: await ingest(l, "layer"), mediaType: l.mediaType });
        }
        prepared.push(
          await this.prepareImage(config.digest, layers, manifest?.digest, img.names, newLayers),
        );
      }

      this.idb.transaction(() => {
        for (const row of newLayers.values()) {
          if (!this.idb.layer(row.chainId)) this.idb.insertLayer(row);
        }
        for (const p of prepared) this.commitImage(p);
      });
      newLayers.clear();
      createdBlobs.length = 0;

      const loaded: string[] = [];
      for (const p of prepared) {
        if (p.names.length === 0) loaded.push(p.row.id);
        for (const n of p.names) loaded.push(familiarName(n));
      }
      return { loaded };
    } catch (e) {
      this.undoLoad(e, createdBlobs, [...newLayers.values()]);
      throw e;
    } finally {
      // Loads run one at a time, so everything pinned belongs to this one.
      for (const d of pinned) this.pinnedBlobs.delete(d);
      this.pinnedLayers.clear();
      this.pendingLinks.clear();
      try {
        Deno.removeSync(work, { recursive: true });
      } catch (err) {
        logger.warn("could not remove load temp dir", { dir: work, error: String(err) });
      }
    }
  }

  /** A directory holding the archive's files: the source dir itself, or an extraction. */
  private async openSource(
    source: string | ReadableStream<Uint8Array>,
    work: string,
  ): Promise<string> {
    let stream: ReadableStream<Uint8Array>;
    if (typeof source === "string") {
      let info: Deno.FileInfo;
      try {
        info = Deno.statSync(source);
      } catch {
        throw PolisError.invalid(`cannot load "${source}": no such file or directory`);
      }
      if (info.isDirectory) return source;
      stream = (await Deno.open(source, { read: true })).readable;
    } else {
      stream = source;
    }
    const dir = `${work}/archive`;
    Deno.mkdirSync(dir);
    await extractArchive(stream, dir);
    return dir;
  }

  /** Checks the config against the layers and unpacks layers this store lacks. */
  private async prepareImage(
    configDigest: string,
    layers: { blob: IngestResult; mediaType?: string }[],
    manifestDigest: string | undefined,
    names: string[],
    newLayers: Map<string, LayerRow>,
  ): Promise<PreparedImage> {
    const text = new TextDecoder().decode(this.blobs.readBytes(configDigest));
    const cfg = parseImageConfig(text, configDigest);
    if (cfg.diffIds.length !== layers.length) {
      throw PolisError.invalid(
        `image ${configDigest}: the config lists ${cfg.diffIds.length} layers but the archive has ${layers.length}`,
      );
    }
    const chains = chainIds(cfg.diffIds);
    let size = 0;
    const refs: ImageLayerRef[] = [];
    for (let i = 0; i < chains.length; i++) {
      const chainId = chains[i];
      const blob = layers[i].blob;
      let row = this.idb.layer(chainId) ?? newLayers.get(chainId);
      if (!row) {
        row = await this.unpack(
          chainId,
          i === 0 ? null : chains[i - 1],
          cfg.diffIds[i],
          blob.digest,
        );
        newLayers.set(chainId, row);
      }
      this.pinnedLayers.add(chainId);
      size += row.size;
      refs.push({
        chainId,
        blobDigest: blob.digest,
        mediaType: layers[i].mediaType ?? this.layerMediaType(blob.digest),
      });
    }
    const blobs = [configDigest, ...refs.map((r) => r.blobDigest)];
    if (manifestDigest) blobs.push(manifestDigest);
    return {
      row: {
        id: configDigest,
        config: text,
        size,
        manifestDigest: manifestDigest ?? null,
        addedAt: new Date().toISOString(),
      },
      layers: refs,
      blobs,
      names,
    };
  }

  /** Media type of a docker-save layer, from its first bytes. */
  private layerMediaType(digest: string): string {
    const f = Deno.openSync(this.blobs.path(digest), { read: true });
    try {
      const head = new Uint8Array(8);
      const n = f.readSync(head) ?? 0;
      return detectCompression(head.subarray(0, n)) === "gzip"
        ? MEDIA.ociLayerGzip
        : MEDIA.ociLayer;
    } finally {
      f.close();
    }
  }

  /**
   * Unpacks a layer blob (or `input`, the same bytes as they arrive) into a temp dir and
   * renames it to `layers/<chain-id hex>` once its content matched the diff id and
   * `verified` (the blob's own check) resolved. With `record` the row is inserted at
   * once; otherwise the caller's transaction does it. A chain that got a row meanwhile
   * (another pull or load of the same layer) is kept and this unpack dropped.
   */
  private async unpack(
    chainId: string,
    parent: string | null,
    diffId: string,
    blobDigest: string,
    more: { input?: ReadableStream<Uint8Array>; verified?: Promise<unknown>; record?: boolean } =
      {},
  ): Promise<LayerRow> {
    const hex = chainId.slice("sha256:".length);
    const final = `${this.layersDir}/${hex}`;
    const tmp = Deno.makeTempDirSync({ dir: this.tmpDir, prefix: "unpack-" });
    try {
      const result = await unpackLayer(more.input ?? await this.blobs.open(blobDigest), tmp, {
        format: this.format,
        ops: this.ops,
        privileged: this.privileged,
        label: `layer ${blobDigest}`,
        expectedDiffId: diffId,
      });
      syncFilesystem(tmp);
      await more.verified;
      // No await from here to the row: no other unpack of this chain can come between.
      const existing = this.idb.layer(chainId);
      if (existing) {
        removeIfExistsSync(tmp, true);
        return existing;
      }
      // A dir without a row is debris of an interrupted run: never trust it.
      removeIfExistsSync(final, true);
      Deno.renameSync(tmp, final);
      fsyncDirSync(this.layersDir);
      const link = this.freeLink(hex);
      const linkPath = `${this.linksDir}/${link}`;
      removeIfExistsSync(linkPath);
      Deno.symlinkSync(`../layers/${hex}`, linkPath);
      const row: LayerRow = {
        chainId,
        diffId,
        parent,
        size: result.size,
        format: this.format,
        link,
        opaqueDirs: result.opaqueDirs,
      };
      if (more.record) {
        this.idb.transaction(() => this.idb.insertLayer(row));
        this.pendingLinks.delete(link);
      }
      return row;
    } catch (e) {
      try {
        removeIfExistsSync(tmp, true);
      } catch (cleanupErr) {
        attach(e, cleanupErr);
      }
      throw e;
    }
  }

  /** Whether the layer with this chain id is unpacked (and recorded). */
  hasLayer(chainId: string): boolean {
    return this.idb.layer(chainId) !== undefined;
  }

  /**
   * Unpacks one layer of a pull from `input` while it downloads, and records it at once,
   * so the next pull reuses it even when this one never finishes (the pull's hold, see
   * `holdLayers`, keeps it till then). Nothing is placed before `verified` (the blob's
   * digest check) resolves; a rejection leaves no layer dir.
   */
  async unpackPulledLayer(
    layer: PulledLayer,
    input: ReadableStream<Uint8Array>,
    verified: Promise<unknown>,
  ): Promise<void> {
    if (this.idb.layer(layer.chainId)) {
      await input.cancel().catch(() => {});
      return;
    }
    await this.unpack(layer.chainId, layer.parent, layer.diffId, layer.blobDigest, {
      input,
      verified,
      record: true,
    });
  }

  /** A short link name derived from the chain id, longer only on a clash. */
  private freeLink(hex: string): string {
    for (let n = SHORT_LINK_LENGTH; n <= hex.length; n++) {
      const name = hex.slice(0, n);
      if (!this.idb.linkTaken(name) && !this.pendingLinks.has(name)) {
        this.pendingLinks.add(name);
        return name;
      }
    }
    throw PolisError.internal(`no free layer link name for ${hex}`);
  }

  private commitImage(p: PreparedImage): void {
    if (!this.idb.image(p.row.id)) {
      this.idb.insertImage(p.row, p.layers, p.blobs);
    } else {
      this.idb.addImageBlobs(p.row.id, p.blobs);
    }
    for (const n of p.names) {
      this.idb.setName(n, n.includes("@") ? "digest" : "tag", p.row.id);
    }
  }

  /** Removes what a failed load created, keeping anything a committed image holds. */
  private undoLoad(err: unknown, blobs: string[], layers: LayerRow[]): void {
    for (const l of layers) {
      try {
        if (this.idb.layer(l.chainId)) continue;
        this.removeLayerFiles(l.chainId, l.link);
      } catch (cleanupErr) {
        attach(err, cleanupErr);
      }
    }
    for (const d of blobs) {
      try {
        if (!this.idb.blobInUse(d)) this.blobs.delete(d);
      } catch (cleanupErr) {
        attach(err, cleanupErr);
      }
    }
  }

  private removeLayerFiles(chainId: string, link: string): void {
    const hex = chainId.slice("sha256:".length);
    removeIfExistsSync(`${this.linksDir}/${link}`);
    const dir = `${this.layersDir}/${hex}`;
    // Move aside first so a crash mid-delete never leaves a half layer under its name.
    const doomed = `${this.tmpDir}/del-${hex.slice(0, 12)}-${crypto.randomUUID().slice(0, 8)}`;
    try {
      Deno.renameSync(dir, doomed);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return;
      throw e;
    }
    Deno.removeSync(doomed, { recursive: true });
  }

  // ---------------------------------------------------------------- pull

  /**
   * Keeps `digests` through removals and restarts until `releaseBlobs(key)`: a pull
   * holds the blobs it fetched before its image record exists, so the next pull after
   * an interruption reuses them. The hold is written (fsync'ed) before the first fetch.
   */
  holdBlobs(key: string, digests: string[], layers: string[] = []): void {
    digestHex(`sha256:${key}`); // keys are hex digests: safe as file names
    for (const d of [...digests, ...layers]) digestHex(d);
    const hold = this.holds.get(key) ?? { blobs: new Set<string>(), layers: new Set<string>() };
    for (const d of digests) hold.blobs.add(d);
    for (const c of layers) hold.layers.add(c);
    this.holds.set(key, hold);
    writeFileAtomicSync(
      this.holdPath(key),
      JSON.stringify({ blobs: [...hold.blobs], layers: [...hold.layers] }),
      0o600,
    );
  }

  /**
   * Keeps the unpacked layers `chainIds` too (a pull holds its image's layers from the
   * moment it knows them, so those it unpacks survive a crash and reused ones a removal).
   */
  holdLayers(key: string, chainIds: string[]): void {
    this.holdBlobs(key, [], chainIds);
  }

  /**
   * Drops a hold. With `discard` (a pull that failed for good: bad content, unknown
   * image) the held blobs no image, load or other hold keeps are deleted too.
   */
  releaseBlobs(key: string, discard = false): void {
    const held = this.holds.get(key) ?? { blobs: new Set<string>(), layers: new Set<string>() };
    this.holds.delete(key);
    removeIfExistsSync(this.holdPath(key));
    if (!discard) return;
    for (const c of held.layers) this.dropLayerIfUnused(c);
    for (const d of held.blobs) {
      if (this.idb.blobInUse(d) || this.pinnedBlobs.has(d) || this.isHeld(d)) continue;
      this.blobs.delete(d);
      removeIfExistsSync(this.blobs.partialPath(d));
    }
  }

  /** Deletes a layer's row and files when no image, load or hold keeps it. */
  private dropLayerIfUnused(chainId: string): void {
    let row: LayerRow | undefined;
    this.idb.transaction(() => {
      row = this.idb.layer(chainId);
      if (!row || this.idb.layerInUse(chainId) || this.pinnedLayers.has(chainId)) return;
      if (this.isLayerHeld(chainId)) return;
      this.idb.deleteLayer(chainId);
    });
    if (row && !this.idb.layer(chainId)) this.removeLayerFiles(row.chainId, row.link);
  }

  private holdPath(key: string): string {
    return `${this.blobs.downloadsDir}/hold-${key}.json`;
  }

  private isHeld(digest: string): boolean {
    for (const h of this.holds.values()) if (h.blobs.has(digest)) return true;
    return false;
  }

  private isLayerHeld(chainId: string): boolean {
    for (const h of this.holds.values()) if (h.layers.has(chainId)) return true;
    return false;
  }

  /**
   * Makes a pulled image visible: records the image row and its names in one
   * transaction. The pull has normally unpacked every layer while it downloaded
   * (`unpackPulledLayer`); any layer still missing is unpacked here first. Until then no
   * image is listed, so an interruption leaves the old state; the blobs and layers stay
   * held for the next attempt.
   */
  commitPulled(img: PulledImage): Promise<ImageRecord> {
    const run = this.queue.then(() => this.commitPulledNow(img));
    this.queue = run.catch(() => {});
    return run;
  }

  private async commitPulledNow(img: PulledImage): Promise<ImageRecord> {
    const newLayers = new Map<string, LayerRow>();
    const all = [img.configDigest, img.manifestDigest, ...img.layers.map((l) => l.digest)];
    for (const d of all) {
      if (!this.blobs.has(d)) throw PolisError.internal(`pull: blob ${d} is not in the store`);
      this.pinnedBlobs.add(d);
    }
    try {
      const layers = img.layers.map((l) => ({
        blob: { digest: l.digest, size: this.blobs.stat(l.digest)?.size ?? 0, created: false },
        mediaType: l.mediaType,
      }));
      await this.unpackInParallel(img, newLayers);
      const p = await this.prepareImage(
        img.configDigest,
        layers,
        img.manifestDigest,
        img.names,
        newLayers,
      );
      p.blobs.push(...(img.extraBlobs ?? []).filter((d) => this.blobs.has(d)));
      this.idb.transaction(() => {
        for (const row of newLayers.values()) {
          if (!this.idb.layer(row.chainId)) this.idb.insertLayer(row);
        }
        this.commitImage(p);
      });
      newLayers.clear();
      return this.get(p.row.id);
    } catch (e) {
      this.undoLoad(e, [], [...newLayers.values()]);
      throw e;
    } finally {
      for (const d of all) this.pinnedBlobs.delete(d);
      this.pinnedLayers.clear();
      this.pendingLinks.clear();
    }
  }

  /**
   * Unpacks the layers this store lacks a few at a time (each layer dir stands alone;
   * the parent is only recorded), so decompression of one overlaps the writes of
   * another. `prepareImage` then finds them in `newLayers`. A bad config or a layer
   * count that differs is left for `prepareImage` to report.
   */
  private async unpackInParallel(img: PulledImage, newLayers: Map<string, LayerRow>) {
    let diffIds: string[];
    try {
      const text = new TextDecoder().decode(this.blobs.readBytes(img.configDigest));
      diffIds = parseImageConfig(text, img.configDigest).diffIds;
    } catch {
      return;
    }
    if (diffIds.length !== img.layers.length) return;
    const chains = chainIds(diffIds);
    const todo = chains.map((chainId, i) => ({ chainId, i }))
      .filter(({ chainId }, k) => !this.idb.layer(chainId) && chains.indexOf(chainId) === k);
    let next = 0;
    let failed: { e: unknown } | undefined;
    const worker = async () => {
      while (!failed && next < todo.length) {
        const { chainId, i } = todo[next++];
        try {
          const row = await this.unpack(
            chainId,
            i === 0 ? null : chains[i - 1],
            diffIds[i],
            img.layers[i].digest,
          );
          newLayers.set(chainId, row);
        } catch (e) {
          failed ??= { e };
        }
      }
    };
    await Promise.all([worker(), worker(), worker()]);
    if (failed) throw failed.e;
  }

  // ---------------------------------------------------------------- remove

  /**
   * docker rmi: a name with other names left is only untagged; the last name,
   * or an id, deletes the image and the layers and blobs no other image holds.
   * An image a container uses is refused (conflict) unless `force`, which then
   * only untags.
   */
  remove(
    ref: string,
    opts: { force?: boolean; usedBy: (imageId: string) => string | undefined },
  ): RemoveImageResult[] {
    const img = this.get(ref);
    const names = this.idb.names(img.id);
    let refName: string | undefined;
    try {
      const n = canonicalName(ref);
      if (names.some((x) => x.name === n)) refName = n;
    } catch {
      // an id or id prefix
    }
    const plan = planRemoval({
      ref,
      imageId: img.id,
      names,
      refName,
      usedBy: opts.usedBy(img.id),
      force: opts.force ?? false,
    });
    const results: RemoveImageResult[] = plan.untag.map((n) => ({ Untagged: familiarName(n) }));
    if (plan.deleteImage) {
      results.push(...this.deleteImage(img.id)); // its names go in the same transaction
    } else {
      this.idb.transaction(() => plan.untag.forEach((n) => this.idb.deleteName(n)));
    }
    return results;
  }

  private deleteImage(id: string): RemoveImageResult[] {
    const layerRefs = this.idb.imageLayers(id);
    const blobs = this.idb.imageBlobs(id);
    const goneLayers: LayerRow[] = [];
    let goneBlobs: string[] = [];
    this.idb.transaction(() => {
      this.idb.deleteImage(id);
      for (const chainId of new Set(layerRefs.map((l) => l.chainId))) {
        if (this.idb.layerInUse(chainId) || this.pinnedLayers.has(chainId)) continue;
        if (this.isLayerHeld(chainId)) continue;
        const row = this.idb.layer(chainId);
        if (!row) continue;
        this.idb.deleteLayer(chainId);
        goneLayers.push(row);
      }
      goneBlobs = blobs.filter((b) =>
        !this.idb.blobInUse(b) && !this.pinnedBlobs.has(b) && !this.isHeld(b)
      );
    });
    // Files go after the commit: a crash in between leaves only debris for sweep().
    for (const l of goneLayers.reverse()) {
      try {
        this.removeLayerFiles(l.chainId, l.link);
      } catch (e) {
        logger.warn("could not remove layer files", { chainId: l.chainId, error: String(e) });
      }
    }
    for (const b of goneBlobs) this.blobs.delete(b);
    return [{ Deleted: id }, ...goneLayers.map((l) => ({ Deleted: l.chainId }))];
  }

  // ---------------------------------------------------------------- rootfs

  /** Bytes of the unpacked layers among `chainIds`, each counted once. */
  layersSize(chainIds: Iterable<string>): number {
    let n = 0;
    for (const c of new Set(chainIds)) n += this.idb.layer(c)?.size ?? 0;
    return n;
  }

  /** Bytes of regular files in a container's own dir (its writable layer); 0 when absent. */
  containerDiskBytes(containerId: string): number {
    let n = 0;
    const walk = (dir: string) => {
      let entries: Iterable<Deno.DirEntry>;
      try {
        entries = Deno.readDirSync(dir);
      } catch {
        return; // gone meanwhile, or not readable: counts as nothing
      }
      for (const e of entries) {
        const p = `${dir}/${e.name}`;
        if (e.isDirectory) walk(p);
        else if (e.isFile) n += Deno.lstatSync(p).size;
      }
    };
    walk(this.containerDir(containerId));
    return n;
  }

  private containerDir(containerId: string): string {
    if (!CONTAINER_ID.test(containerId)) {
      throw PolisError.invalid(`invalid container id "${containerId}"`);
    }
    return `${this.containersDir}/${containerId}`;
  }

  /**
   * Makes the container's writable layer dirs and returns what the runtime
   * must mount at the target. Idempotent: preparing again returns the same.
   */
  prepareRootfs(imageId: string, containerId: string): RootfsDescription {
    const row = this.idb.image(imageId) ?? this.idb.image(this.get(imageId).id);
    if (!row) throw PolisError.notFound(`No such image: ${imageId}`);
    const cdir = this.containerDir(containerId);
    const layers = this.idb.imageLayers(row.id).map((l) => {
      const layer = this.idb.layer(l.chainId);
      if (!layer) throw PolisError.internal(`image ${row.id}: layer ${l.chainId} is missing`);
      return layer;
    });
    const target = `${cdir}/rootfs`;
    const madeDir = !existsDir(cdir);
    try {
      Deno.mkdirSync(cdir, { recursive: true, mode: 0o700 });
      if (this.overlay && layers.every((l) => l.format === "overlay")) {
        const lowerdirs = layers.map((l) => `${this.linksDir}/${l.link}`).reverse();
        if (lowerdirs.length === 0) {
          Deno.mkdirSync(`${cdir}/empty`, { recursive: true, mode: 0o755 });
          lowerdirs.push(`${cdir}/empty`);
        }
        const desc: RootfsDescription = {
          kind: "overlay",
          lowerdirs,
          upperdir: `${cdir}/upper`,
          workdir: `${cdir}/work`,
          target,
        };
        checkOverlayFits(desc);
        for (const d of [desc.upperdir, desc.workdir, target]) {
          Deno.mkdirSync(d, { recursive: true, mode: 0o755 });
        }
        // The upper dir's root becomes the container's "/": it must be 0755.
        Deno.chmodSync(desc.upperdir, 0o755);
        return desc;
      }
      if (!existsDir(target)) {
        const tmp = Deno.makeTempDirSync({ dir: cdir, prefix: "rootfs.tmp-" });
        try {
          copyLayers(
            layers.map((l) => ({
              dir: `${this.layersDir}/${l.chainId.slice(7)}`,
              format: l.format,
              opaqueDirs: l.opaqueDirs,
            })),
            tmp,
            { ops: this.ops, privileged: this.privileged },
          );
          syncFilesystem(tmp);
          Deno.renameSync(tmp, target);
        } catch (e) {
          removeIfExistsSync(tmp, true);
          throw e;
        }
      }
      return { kind: "copy", path: target };
    } catch (e) {
      if (madeDir) {
        try {
          removeIfExistsSync(cdir, true);
        } catch (cleanupErr) {
          attach(e, cleanupErr);
        }
      }
      throw e;
    }
  }

  /** Removes the container's upper, work and target dirs; the caller has unmounted. */
  removeRootfs(containerId: string): void {
    const cdir = this.containerDir(containerId);
    if (!existsDir(cdir)) return;
    const target = `${cdir}/rootfs`;
    if (isMountPoint(target)) {
      throw PolisError.precondition(
        `rootfs of container ${containerId} is still mounted at ${target}`,
      );
    }
    for (const e of Deno.readDirSync(cdir)) {
      if (
        ["rootfs", "upper", "work", "empty"].includes(e.name) || e.name.startsWith("rootfs.tmp-")
      ) {
        Deno.removeSync(`${cdir}/${e.name}`, { recursive: true });
      }
    }
    try {
      Deno.removeSync(cdir); // only when nothing else (a bundle, logs) lives there
    } catch {
      // not empty: the engine's own files stay
    }
  }

  // ---------------------------------------------------------------- recovery

  /**
   * Clears what an interrupted run left: temp files, layer dirs and links with
   * no row, and blobs no image holds. Runs when the store opens.
   */
  /**
   * The downloads dir keeps what unfinished pulls need across restarts: partial blobs
   * and holds, both dropped after DOWNLOAD_KEEP_MS. Live holds are loaded into memory.
   * Returns the blobs they keep.
   */
  private sweepDownloads(): Set<string> {
    const dir = this.blobs.downloadsDir;
    const kept = new Set<string>();
    const isHex = (d: unknown): d is string => typeof d === "string" && HEX.test(d.slice(7));
    const now = Date.now();
    for (const e of Deno.readDirSync(dir)) {
      const path = `${dir}/${e.name}`;
      let stale = true;
      try {
        stale = !e.isFile || now - (Deno.statSync(path).mtime?.getTime() ?? 0) > DOWNLOAD_KEEP_MS;
      } catch {
        // gone meanwhile
      }
      const hold = /^hold-([a-f0-9]{64})\.json$/.exec(e.name);
      if (!stale && hold) {
        try {
          // An array of blob digests (older holds), or { blobs, layers }.
          const doc = JSON.parse(Deno.readTextFileSync(path)) as
            | unknown[]
            | { blobs?: unknown[]; layers?: unknown[] };
          const blobs = (Array.isArray(doc) ? doc : doc.blobs ?? []).filter(isHex);
          const layers = Array.isArray(doc) ? [] : (doc.layers ?? []).filter(isHex);
          this.holds.set(hold[1], { blobs: new Set(blobs), layers: new Set(layers) });
          for (const d of blobs) kept.add(d);
          continue;
        } catch {
          stale = true; // unreadable: drop it
        }
      }
      if (stale || !(hold || /^[a-f0-9]{64}\.partial$/.test(e.name))) {
        removeIfExistsSync(path, true);
      }
    }
    return kept;
  }

  private sweep(): void {
    for (const e of Deno.readDirSync(this.tmpDir)) {
      removeIfExistsSync(`${this.tmpDir}/${e.name}`, true);
    }
    const referenced = this.idb.referencedBlobs();
    for (const d of this.sweepDownloads()) referenced.add(d);
    // Layers a pull unpacked are recorded at once; with no image and no hold left they go.
    for (const l of this.idb.layers()) {
      if (this.idb.layerInUse(l.chainId) || this.isLayerHeld(l.chainId)) continue;
      logger.info("removing a layer no image or pull holds", { chainId: l.chainId });
      this.idb.transaction(() => this.idb.deleteLayer(l.chainId));
    }
    const layers = new Map(this.idb.layers().map((l) => [l.chainId.slice(7), l]));
    const links = new Set([...layers.values()].map((l) => l.link));
    for (const e of Deno.readDirSync(this.layersDir)) {
      if (!layers.has(e.name)) {
        logger.info("removing an unreferenced layer dir", { dir: e.name });
        removeIfExistsSync(`${this.layersDir}/${e.name}`, true);
      }
    }
    for (const e of Deno.readDirSync(this.linksDir)) {
      if (!links.has(e.name)) removeIfExistsSync(`${this.linksDir}/${e.name}`);
    }
    for (const b of this.blobs.list()) {
      if (!referenced.has(b.digest)) this.blobs.delete(b.digest);
    }
    for (const e of Deno.readDirSync(this.blobs.dir)) {
      if (!HEX.test(e.name)) removeIfExistsSync(`${this.blobs.dir}/${e.name}`);
    }
  }
}

interface Hold {
  blobs: Set<string>;
  layers: Set<string>;
}

function attach(err: unknown, cleanupErr: unknown): void {
  if (err instanceof PolisError) err.cleanupErrors.push(cleanupErr);
  else logger.warn("cleanup failed", { error: String(cleanupErr) });
}

function existsDir(path: string): boolean {
  try {
    return Deno.lstatSync(path).isDirectory;
  } catch {
    return false;
  }
}

/** Whether `path` is a mount point in this mount namespace (per /proc/self/mountinfo). */
function isMountPoint(path: string): boolean {
  let text: string;
  try {
    text = Deno.readTextFileSync("/proc/self/mountinfo");
  } catch {
    return false;
  }
  const unescape = (s: string) =>
    s.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
  return text.split("\n").some((line) => unescape(line.split(" ")[4] ?? "") === path);
}
