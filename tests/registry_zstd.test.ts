/**
 * zstd layers: skopeo (an independent client) pushes busybox with its layers recompressed
 * as zstd under an OCI manifest (`application/vnd.oci.image.layer.v1.tar+zstd`); a real
 * daemon pulls it from the real registry and runs it.
 */
import { deepStrictEqual as eq, ok } from "node:assert/strict";
import { daemonTest, isRoot } from "./helpers/fixture.ts";
import { busyboxImages } from "./helpers/image.ts";
import { hasRegistry, TestRegistry } from "./helpers/registry.ts";

if (isRoot && !hasRegistry) console.log("no /usr/bin/docker-registry: zstd tests skipped");

const ZSTD_LAYER = "application/vnd.oci.image.layer.v1.tar+zstd";

if (hasRegistry) {
  daemonTest("an image with zstd layers pulls and runs", async (d) => {
    const reg = new TestRegistry();
    try {
      await reg.start();
      const imgs = await busyboxImages();
      const out = await new Deno.Command("skopeo", {
        args: [
          "--insecure-policy",
          "copy",
          "--quiet",
          "--dest-tls-verify=false",
          "--format",
          "oci",
          "--dest-compress",
          "--dest-compress-format",
          "zstd",
          `oci:${imgs.ociDir}:busybox:latest`,
          `docker://${reg.host}/zstd/busybox:1`,
        ],
      }).output();
      ok(out.success, new TextDecoder().decode(out.stderr));
      const res = await fetch(`http://${reg.host}/v2/zstd/busybox/manifests/1`, {
        headers: { accept: "application/vnd.oci.image.manifest.v1+json" },
      });
      const manifest = await res.json() as { layers: { mediaType: string; digest: string }[] };
      ok(manifest.layers.length > 0);
      for (const l of manifest.layers) eq(l.mediaType, ZSTD_LAYER);
      // The registry holds zstd frames, not gzip.
      const blob = Deno.readFileSync(reg.blobPath(manifest.layers[0].digest)).subarray(0, 4);
      eq([...blob], [0x28, 0xb5, 0x2f, 0xfd]);

      const ref = `${reg.host}/zstd/busybox:1`;
      await d.ok(["pull", "-q", ref]);
      eq(
        await d.ok(["run", "--rm", ref, "sh", "-c", "echo zstd; ls /bin/busybox"]),
        "zstd\n/bin/busybox\n",
      );
      const inspect = JSON.parse(await d.ok(["image", "inspect", ref]))[0];
      const base = JSON.parse(await d.ok(["image", "inspect", "busybox"]))[0];
      // Same uncompressed layers (diff ids) as the gzip original.
      eq(inspect.RootFS.Layers, base.RootFS.Layers);
    } finally {
      await reg.stop();
    }
  });
}
