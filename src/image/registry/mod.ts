/**
 * Images from registries (OCI distribution spec): a client for one repository with
 * Basic and Bearer auth, retries and insecure-host rules; manifest parsing; platform
 * choice; and `pullImage`, which fetches an image into the store resumably and commits
 * it in one step.
 *
 * @example
 * ```ts
 * import { pullImage } from "./src/image/registry/mod.ts";
 * await pullImage(images, "127.0.0.1:5000/busybox:latest", { platform: "linux/arm64" });
 * ```
 * @module
 */

export { pullImage } from "./pull.ts";
export { pushImage } from "./push.ts";
export type { PushOptions, PushProgress, PushResult } from "./push.ts";
export type { PullOptions, PullProgress, PullResult, PullStore } from "./pull.ts";
export {
  DOCKER_HUB_API,
  endpointsFor,
  isInsecureHost,
  isLoopbackHost,
  RegistryClient,
  registryConfigFromEnv,
} from "./client.ts";
export type {
  BlobBody,
  ClientOptions,
  FetchedManifest,
  MountResult,
  RegistryConfig,
} from "./client.ts";
export { basicAuthorization, parseChallenges, TokenCache } from "./auth.ts";
export type { Challenge, Credentials } from "./auth.ts";
export { MANIFEST_ACCEPT, MEDIA_TYPES, parseManifest } from "./manifest.ts";
export type { Descriptor, Manifest } from "./manifest.ts";
export {
  formatPlatform,
  hostPlatform,
  normalizePlatform,
  parsePlatform,
  platformRank,
  selectPlatform,
} from "./platform.ts";
export type { Platform } from "./platform.ts";
