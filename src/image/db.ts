/**
 * The image tables in the engine's SQLite database: images, their names
 * (tags and digests), the unpacked layers keyed by chain id, and which layers
 * and blobs each image holds. All writes of one operation go through
 * `transaction`, so a crash leaves the old state or the whole new one.
 * @module
 */

import type { DatabaseSync, SQLInputValue } from "node:sqlite";
import type { WhiteoutFormat } from "./unpack.ts";

export interface ImageRow {
  id: string;
  config: string;
  size: number;
  manifestDigest: string | null;
  addedAt: string;
}

export interface LayerRow {
  chainId: string;
  diffId: string;
  parent: string | null;
  size: number;
  format: WhiteoutFormat;
  /** Short name under `<root>/l/`, a symlink to the layer dir. */
  link: string;
  /** Opaque dirs (relative) of an overlay-format layer. */
  opaqueDirs: string[];
}

export interface ImageLayerRef {
  chainId: string;
  blobDigest: string;
  mediaType: string;
}

export type NameKind = "tag" | "digest";

const SCHEMA = [
  `CREATE TABLE IF NOT EXISTS image_images (
    id TEXT PRIMARY KEY,
    config TEXT NOT NULL,
    size INTEGER NOT NULL,
    manifest_digest TEXT,
    added_at TEXT NOT NULL
  )`,
  `CREATE TABLE IF NOT EXISTS image_names (
    name TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    image_id TEXT NOT NULL REFERENCES image_images(id) ON DELETE CASCADE
  )`,
  `CREATE INDEX IF NOT EXISTS image_names_by_image ON image_names(image_id)`,
  `CREATE TABLE IF NOT EXISTS image_layers (
    chain_id TEXT PRIMARY KEY,
    diff_id TEXT NOT NULL,
    parent TEXT,
    size INTEGER NOT NULL,
    format TEXT NOT NULL,
    link TEXT NOT NULL UNIQUE,
    opaque_dirs TEXT NOT NULL DEFAULT '[]'
  )`,
  `CREATE TABLE IF NOT EXISTS image_image_layers (
    image_id TEXT NOT NULL REFERENCES image_images(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    chain_id TEXT NOT NULL,
    blob_digest TEXT NOT NULL,
    media_type TEXT NOT NULL,
    PRIMARY KEY (image_id, position)
  )`,
  `CREATE INDEX IF NOT EXISTS image_image_layers_by_chain ON image_image_layers(chain_id)`,
  `CREATE TABLE IF NOT EXISTS image_image_blobs (
    image_id TEXT NOT NULL REFERENCES image_images(id) ON DELETE CASCADE,
    digest TEXT NOT NULL,
    PRIMARY KEY (image_id, digest)
  )`,
  `CREATE INDEX IF NOT EXISTS image_image_blobs_by_digest ON image_image_blobs(digest)`,
];

type Row = Record<string, SQLInputValue>;

export class ImageDb {
  constructor(readonly db: DatabaseSync) {
    for (const sql of SCHEMA) db.exec(sql);
  }

  /** Runs `fn` atomically; nests as a savepoint inside a caller's transaction. */
  transaction<T>(fn: () => T): T {
    const nested = this.db.isTransaction;
    this.db.exec(nested ? "SAVEPOINT image_tx" : "BEGIN IMMEDIATE");
    try {
      const out = fn();
      this.db.exec(nested ? "RELEASE image_tx" : "COMMIT");
      return out;
    } catch (e) {
      this.db.exec(nested ? "ROLLBACK TO image_tx; RELEASE image_tx" : "ROLLBACK");
      throw e;
    }
  }

  private all(sql: string, ...args: SQLInputValue[]): Row[] {
    return this.db.prepare(sql).all(...args) as Row[];
  }

  private get(sql: string, ...args: SQLInputValue[]): Row | undefined {
    return this.db.prepare(sql).get(...args) as Row | undefined;
  }

  private run(sql: string, ...args: SQLInputValue[]): void {
    this.db.prepare(sql).run(...args);
  }

  // ------------------------------------------------------------ images

  images(): ImageRow[] {
    return this.all("SELECT * FROM image_images ORDER BY added_at, id").map(toImage);
  }

  image(id: string): ImageRow | undefined {
    const r = this.get("SELECT * FROM image_images WHERE id = ?", id);
    return r ? toImage(r) : undefined;
  }

  /** Ids starting with `prefix` ("sha256:…"). */
  imagesByPrefix(prefix: string): string[] {
    return this.all(
      "SELECT id FROM image_images WHERE substr(id, 1, ?) = ? ORDER BY id",
      prefix.length,
      prefix,
    ).map((r) => String(r.id));
  }

  insertImage(row: ImageRow, layers: ImageLayerRef[], blobs: string[]): void {
    this.run(
      "INSERT INTO image_images (id, config, size, manifest_digest, added_at) VALUES (?, ?, ?, ?, ?)",
      row.id,
      row.config,
      row.size,
      row.manifestDigest,
      row.addedAt,
    );
    layers.forEach((l, i) =>
      this.run(
        "INSERT INTO image_image_layers (image_id, position, chain_id, blob_digest, media_type) VALUES (?, ?, ?, ?, ?)",
        row.id,
        i,
        l.chainId,
        l.blobDigest,
        l.mediaType,
      )
    );
    for (const b of new Set(blobs)) {
      this.run("INSERT INTO image_image_blobs (image_id, digest) VALUES (?, ?)", row.id, b);
    }
  }

  /** Adds blob refs to an existing image (e.g. the manifest, when loaded again from a layout). */
  addImageBlobs(id: string, blobs: string[]): void {
    for (const b of new Set(blobs)) {
      this.run("INSERT OR IGNORE INTO image_image_blobs (image_id, digest) VALUES (?, ?)", id, b);
    }
  }

  /** Deletes the image with its names, layer refs and blob refs. */
  deleteImage(id: string): void {
    // Explicit rather than relying on ON DELETE CASCADE: foreign_keys is a per-connection pragma.
    this.run("DELETE FROM image_names WHERE image_id = ?", id);
    this.run("DELETE FROM image_image_layers WHERE image_id = ?", id);
    this.run("DELETE FROM image_image_blobs WHERE image_id = ?", id);
    this.run("DELETE FROM image_images WHERE id = ?", id);
  }

  imageLayers(id: string): ImageLayerRef[] {
    return this.all(
      "SELECT chain_id, blob_digest, media_type FROM image_image_layers WHERE image_id = ? ORDER BY position",
      id,
    ).map((r) => ({
      chainId: String(r.chain_id),
      blobDigest: String(r.blob_digest),
      mediaType: String(r.media_type),
    }));
  }

  imageBlobs(id: string): string[] {
    return this.all("SELECT digest FROM image_image_blobs WHERE image_id = ?", id).map((r) =>
      String(r.digest)
    );
  }

  blobInUse(digest: string): boolean {
    return this.get("SELECT 1 AS x FROM image_image_blobs WHERE digest = ? LIMIT 1", digest) !==
      undefined;
  }

  /** Every blob any image holds. */
  referencedBlobs(): Set<string> {
    return new Set(
      this.all("SELECT DISTINCT digest FROM image_image_blobs").map((r) => String(r.digest)),
    );
  }

  // ------------------------------------------------------------ names

  names(imageId: string): { name: string; kind: NameKind }[] {
    return this.all(
      "SELECT name, kind FROM image_names WHERE image_id = ? ORDER BY rowid",
      imageId,
    ).map((r) => ({ name: String(r.name), kind: String(r.kind) as NameKind }));
  }

  lookupName(name: string): string | undefined {
    const r = this.get("SELECT image_id FROM image_names WHERE name = ?", name);
    return r ? String(r.image_id) : undefined;
  }

  /** Points `name` at `imageId`, moving it from any other image. */
  setName(name: string, kind: NameKind, imageId: string): void {
    this.run("DELETE FROM image_names WHERE name = ?", name);
    this.run(
      "INSERT INTO image_names (name, kind, image_id) VALUES (?, ?, ?)",
      name,
      kind,
      imageId,
    );
  }

  deleteName(name: string): void {
    this.run("DELETE FROM image_names WHERE name = ?", name);
  }

  // ------------------------------------------------------------ layers

  layer(chainId: string): LayerRow | undefined {
    const r = this.get("SELECT * FROM image_layers WHERE chain_id = ?", chainId);
    return r ? toLayer(r) : undefined;
  }

  layers(): LayerRow[] {
    return this.all("SELECT * FROM image_layers").map(toLayer);
  }

  linkTaken(link: string): boolean {
    return this.get("SELECT 1 AS x FROM image_layers WHERE link = ?", link) !== undefined;
  }

  insertLayer(l: LayerRow): void {
    this.run(
      "INSERT INTO image_layers (chain_id, diff_id, parent, size, format, link, opaque_dirs) VALUES (?, ?, ?, ?, ?, ?, ?)",
      l.chainId,
      l.diffId,
      l.parent,
      l.size,
      l.format,
      l.link,
      JSON.stringify(l.opaqueDirs),
    );
  }

  layerInUse(chainId: string): boolean {
    return this.get(
      "SELECT 1 AS x FROM image_image_layers WHERE chain_id = ? LIMIT 1",
      chainId,
    ) !== undefined;
  }

  deleteLayer(chainId: string): void {
    this.run("DELETE FROM image_layers WHERE chain_id = ?", chainId);
  }
}

function toImage(r: Row): ImageRow {
  return {
    id: String(r.id),
    config: String(r.config),
    size: Number(r.size),
    manifestDigest: r.manifest_digest === null ? null : String(r.manifest_digest),
    addedAt: String(r.added_at),
  };
}

function toLayer(r: Row): LayerRow {
  return {
    chainId: String(r.chain_id),
    diffId: String(r.diff_id),
    parent: r.parent === null ? null : String(r.parent),
    size: Number(r.size),
    format: String(r.format) as WhiteoutFormat,
    link: String(r.link),
    opaqueDirs: JSON.parse(String(r.opaque_dirs)) as string[],
  };
}
