import { deepStrictEqual as eq, throws } from "node:assert/strict";
import { hostPlatform, readImageDir } from "./archive.ts";
import { sha256Hex } from "./content.ts";

function withDir(fn: (dir: string) => void): void {
  const dir = Deno.makeTempDirSync({ prefix: "polis-archive-" });
  try {
    fn(dir);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

/** Writes a blob into an OCI layout and returns its descriptor. */
function blob(dir: string, content: string, mediaType: string, extra: object = {}) {
  const hex = sha256Hex(content);
  Deno.mkdirSync(`${dir}/blobs/sha256`, { recursive: true });
  Deno.writeTextFileSync(`${dir}/blobs/sha256/${hex}`, content);
  return {
    mediaType,
    digest: `sha256:${hex}`,
    size: new TextEncoder().encode(content).length,
    ...extra,
  };
}

function image(dir: string, tag: string) {
  const layer = blob(dir, `layer-${tag}`, "application/vnd.oci.image.layer.v1.tar");
  const config = blob(
    dir,
    JSON.stringify({ rootfs: { type: "layers", diff_ids: [layer.digest] }, tag }),
    "application/vnd.oci.image.config.v1+json",
  );
  return blob(
    dir,
    JSON.stringify({ schemaVersion: 2, config, layers: [layer] }),
    "application/vnd.oci.image.manifest.v1+json",
  );
}

function layout(dir: string, manifests: object[]): void {
  Deno.writeTextFileSync(`${dir}/oci-layout`, '{"imageLayoutVersion":"1.0.0"}');
  Deno.writeTextFileSync(`${dir}/index.json`, JSON.stringify({ schemaVersion: 2, manifests }));
}

Deno.test("an OCI index is followed to the host's platform; names come from annotations", () => {
  withDir((dir) => {
    const host = hostPlatform();
    const mine = image(dir, "mine");
    const other = image(dir, "other");
    const index = blob(
      dir,
      JSON.stringify({
        schemaVersion: 2,
        manifests: [
          { ...other, platform: { os: "linux", architecture: "s390x" } },
          { ...mine, platform: { os: host.os, architecture: host.architecture } },
        ],
      }),
      "application/vnd.oci.image.index.v1+json",
    );
    layout(dir, [
      { ...index, annotations: { "io.containerd.image.name": "docker.io/library/multi:1" } },
      { ...mine, annotations: { "org.opencontainers.image.ref.name": "localhost/x:2" } },
      { ...other, annotations: { "org.opencontainers.image.ref.name": "latest" } },
    ]);
    const images = readImageDir(dir);
    eq(images.length, 2, "the index and its host manifest are one image");
    eq(images[0].names, ["docker.io/library/multi:1", "localhost/x:2"]);
    eq(images[0].manifest?.expected, mine.digest);
    eq(images[0].layers.length, 1);
    eq(images[1].names, [], "a bare ref.name is a tag without a repository");
  });
});

Deno.test("an index with no image for this platform is refused, naming what it has", () => {
  withDir((dir) => {
    const other = image(dir, "other");
    const index = blob(
      dir,
      JSON.stringify({
        manifests: [{ ...other, platform: { os: "linux", architecture: "riscv64" } }],
      }),
      "application/vnd.oci.image.index.v1+json",
    );
    layout(dir, [index]);
    throws(() => readImageDir(dir), /no image for linux\/(amd64|arm64) \(has linux\/riscv64\)/);
  });
});

Deno.test("a manifest whose bytes do not match its digest is refused", () => {
  withDir((dir) => {
    const m = image(dir, "t");
    Deno.writeTextFileSync(`${dir}/blobs/sha256/${m.digest.slice(7)}`, "{}");
    layout(dir, [m]);
    throws(() => readImageDir(dir), /manifest sha256:[a-f0-9]{64}: content does not match/);
  });
});

Deno.test("a non-image artifact and missing blobs are refused clearly", () => {
  withDir((dir) => {
    const cfg = blob(dir, "{}", "application/vnd.cncf.helm.config.v1+json");
    const m = blob(
      dir,
      JSON.stringify({ config: cfg, layers: [] }),
      "application/vnd.oci.image.manifest.v1+json",
    );
    layout(dir, [m]);
    throws(
      () => readImageDir(dir),
      /is not a container image \(config type application\/vnd\.cncf/,
    );
    layout(dir, [{ ...m, digest: "sha256:" + "0".repeat(64) }]);
    throws(() => readImageDir(dir), /manifest "blobs\/sha256\/0{64}" is missing/);
  });
});

Deno.test("docker-save paths promise digests only where the name is a digest", () => {
  withDir((dir) => {
    const cfgHex = "a".repeat(64);
    Deno.mkdirSync(`${dir}/blobs/sha256`, { recursive: true });
    Deno.mkdirSync(`${dir}/legacy`);
    Deno.writeTextFileSync(`${dir}/${cfgHex}.json`, "{}");
    Deno.writeTextFileSync(`${dir}/blobs/sha256/${"b".repeat(64)}`, "l1");
    Deno.writeTextFileSync(`${dir}/real.tar`, "l2");
    Deno.symlinkSync("../real.tar", `${dir}/legacy/layer.tar`);
    Deno.writeTextFileSync(
      `${dir}/manifest.json`,
      JSON.stringify([{
        Config: `${cfgHex}.json`,
        RepoTags: ["busybox:latest", "localhost:5000/a/b:c"],
        Layers: [`blobs/sha256/${"b".repeat(64)}`, "legacy/layer.tar"],
      }]),
    );
    const [img] = readImageDir(dir);
    eq(img.names, ["docker.io/library/busybox:latest", "localhost:5000/a/b:c"]);
    eq(img.config.expected, `sha256:${cfgHex}`);
    eq(img.layers.map((l) => l.expected), [`sha256:${"b".repeat(64)}`, undefined]);
    eq(img.layers[1].path, `${dir}/real.tar`, "symlinks resolve inside the archive");
  });
});

Deno.test("a docker-save layer symlink cannot reach outside the archive", () => {
  withDir((dir) => {
    Deno.writeTextFileSync(`${dir}/c.json`, "{}");
    Deno.symlinkSync("/etc/passwd", `${dir}/evil.tar`);
    Deno.writeTextFileSync(
      `${dir}/manifest.json`,
      JSON.stringify([{ Config: "c.json", Layers: ["evil.tar"] }]),
    );
    throws(() => readImageDir(dir), /layer "evil.tar" is missing/);
  });
});
