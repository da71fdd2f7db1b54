/**
 * Local images for the engine: load docker-save archives and OCI layouts into
 * a content-addressed blob store, unpack layers once per chain id, keep image
 * records and names in SQLite, describe container root filesystems (overlay
 * or copy), and resolve a container's process and user from an image config.
 *
 * @example
 * ```ts
 * import { ImageStore, resolveProcess } from "./src/image/mod.ts";
 * const images = new ImageStore({ root: "/var/lib/polis", db });
 * await images.load("/tmp/busybox.tar");
 * const img = images.get("busybox");
 * const proc = resolveProcess(img.config, { cmd: ["echo", "hi"] });
 * const rootfs = images.prepareRootfs(img.id, containerId);
 * ```
 * @module
 */

export { ImageStore } from "./store.ts";
export { chainIds, parseImageConfig } from "./config.ts";
export type { ParsedConfig } from "./config.ts";
export { DOWNLOAD_KEEP_MS } from "./store.ts";
export { SAVE_FORMATS, saveImages } from "./save.ts";
export type { SaveFormat } from "./save.ts";
export type {
  ImageInspect,
  ImageRecord,
  ImageStoreOptions,
  PulledImage,
  RemoveImageResult,
} from "./store.ts";
export { checkOverlayFits, MOUNT_DATA_LIMIT, overlayMountData } from "./rootfs.ts";
export type { RootfsDescription } from "./rootfs.ts";
export {
  canonicalName,
  DEFAULT_DOMAIN,
  DEFAULT_TAG,
  familiarName,
  parseReference,
  repositoryName,
} from "./reference.ts";
export type { ParsedReference } from "./reference.ts";
export { DEFAULT_PATH, mergeEnv, resolveProcess } from "./process.ts";
export type { ImageConfig, ProcessOverrides, ResolvedProcess } from "./process.ts";
export { resolveUser, resolveUserFrom } from "./user.ts";
export type { ResolvedUser } from "./user.ts";
export { resolveInRoot } from "./rootpath.ts";
export { BlobStore, digestHex, isDigest } from "./content.ts";
export type {
  BlobDownloader,
  BlobInfo,
  BlobIngester,
  BlobLister,
  BlobReader,
  DownloadOptions,
  IngestOptions,
  IngestResult,
  RangeOpener,
} from "./content.ts";
export { hostFsOps } from "./fsops.ts";
export {
  formatPlatform,
  hostPlatform,
  isLoopbackHost,
  parsePlatform,
  pullImage,
  pushImage,
  RegistryClient,
  registryConfigFromEnv,
} from "./registry/mod.ts";
export type {
  Credentials,
  Platform,
  PullOptions,
  PullProgress,
  PullResult,
  RegistryConfig,
} from "./registry/mod.ts";
export type { FsOps } from "./fsops.ts";
