import { deepStrictEqual as eq, throws } from "node:assert/strict";
import { MEDIA_TYPES, parseManifest } from "./manifest.ts";

const D = (c: string) => `sha256:${c.repeat(64)}`;
const bytes = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));

Deno.test("image manifests and indexes parse, from the document or the header", () => {
  const m = parseManifest(
    bytes({
      schemaVersion: 2,
      config: { mediaType: MEDIA_TYPES.dockerConfig, digest: D("a"), size: 10 },
      layers: [{
        mediaType: "application/vnd.docker.image.rootfs.diff.tar.gzip",
        digest: D("b"),
        size: 5,
      }],
    }),
    MEDIA_TYPES.dockerManifest,
    "x",
  );
  eq(m.kind, "image");
  eq(m.mediaType, MEDIA_TYPES.dockerManifest);
  const i = parseManifest(
    bytes({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociIndex,
      manifests: [{
        mediaType: MEDIA_TYPES.ociManifest,
        digest: D("c"),
        size: 3,
        platform: { os: "linux", architecture: "arm", variant: "v7" },
      }],
    }),
    "application/json",
    "x",
  );
  eq(i.kind === "index" && i.manifests[0].platform, {
    os: "linux",
    architecture: "arm",
    variant: "v7",
  });
});

Deno.test("schema 1, foreign layers, artifacts and bad descriptors are refused clearly", () => {
  throws(
    () => parseManifest(bytes({ schemaVersion: 1, fsLayers: [] }), null, "x"),
    /schema 1 manifests are not supported/,
  );
  const base = { schemaVersion: 2, config: { digest: D("a"), size: 1 } };
  throws(
    () =>
      parseManifest(
        bytes({
          ...base,
          layers: [{
            mediaType: "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
            digest: D("b"),
            size: 1,
          }],
        }),
        null,
        "x",
      ),
    /foreign/,
  );
  throws(
    () =>
      parseManifest(
        bytes({
          schemaVersion: 2,
          config: {
            mediaType: "application/vnd.cncf.helm.config.v1+json",
            digest: D("a"),
            size: 1,
          },
          layers: [],
        }),
        null,
        "x",
      ),
    /not a container image/,
  );
  throws(
    () => parseManifest(bytes({ ...base, layers: [{ digest: "md5:abc", size: 1 }] }), null, "x"),
    /unsupported digest/,
  );
  throws(
    () => parseManifest(bytes({ ...base, layers: [{ digest: D("b"), size: -1 }] }), null, "x"),
    /no valid size/,
  );
  throws(() => parseManifest(new TextEncoder().encode("{"), null, "x"), /not valid JSON/);
});
