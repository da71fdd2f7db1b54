/**
 * A docker.io mirror given with `polis daemon --registry-mirror URL`: a real registry on
 * loopback holding `library/busybox:latest` serves `polis pull busybox`, and the image is
 * named as docker.io's (`busybox:latest`). The daemon runs --offline, so when the mirror
 * answers 404 the fallback to Docker Hub is refused with a clear error, never attempted.
 */
import { deepStrictEqual as eq, ok } from "node:assert/strict";
import { isRoot, TestDaemon } from "./helpers/daemon.ts";
import { busyboxImages } from "./helpers/image.ts";
import { hasRegistry, TestRegistry, ThrottleProxy } from "./helpers/registry.ts";

if (isRoot && !hasRegistry) console.log("no /usr/bin/docker-registry: mirror tests skipped");

Deno.test({
  name: "docker.io pulls come from the daemon's --registry-mirror; offline never falls back",
  ignore: !isRoot || !hasRegistry,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const reg = new TestRegistry();
    let proxy: ThrottleProxy | undefined;
    let d: TestDaemon | undefined;
    try {
      await reg.start();
      proxy = new ThrottleProxy(reg.port);
      const imgs = await busyboxImages();
      await reg.push(`oci:${imgs.ociDir}:busybox:latest`, "library/busybox:latest");
      d = new TestDaemon("mirror", undefined, {
        args: ["--registry-mirror", `http://${proxy.host}`],
      });
      await d.start();
      const daemon = d;
      const seen = proxy.requests;

      await t.step("polis pull busybox is served by the mirror as docker.io's", async () => {
        const out = await daemon.ok(["pull", "busybox"]);
        ok(out.includes("Status: Downloaded newer image for busybox:latest\n"), out);
        ok(/\n(docker\.io\/library\/)?busybox:latest\n$/.test(out), out);
        ok(seen.some((r) => r.startsWith("GET /v2/library/busybox/manifests/latest")), seen.join());
        ok(seen.some((r) => r.startsWith("GET /v2/library/busybox/blobs/sha256:")), seen.join());
        const images = await daemon.ok(["images", "--format", "{{.Repository}}:{{.Tag}}"]);
        eq(images, "busybox:latest\n");
        const inspect = JSON.parse(await daemon.ok(["image", "inspect", "busybox"]))[0];
        eq(inspect.RepoTags, ["busybox:latest"]);
        eq(await daemon.ok(["run", "--rm", "busybox", "echo", "mirrored"]), "mirrored\n");
      });

      await t.step("a 404 on the mirror is not retried on Docker Hub when offline", async () => {
        const r = await daemon.cli(["pull", "nothere"]);
        eq(r.code, 1, r.stdout);
        ok(
          /^Error response from daemon: manifest for .*library\/nothere.* not found.*registry-1\.docker\.io is not tried: the daemon runs --offline/m
            .test(r.stderr),
          r.stderr,
        );
        ok(seen.some((x) => x.startsWith("GET /v2/library/nothere/manifests/latest")));
        ok(!/cannot reach/.test(daemon.daemonLog()), daemon.daemonLog());
      });

      await t.step("other registries off this machine are refused at once", async () => {
        const r = await daemon.cli(["pull", "ghcr.io/polis/none:1"]);
        eq(r.code, 1);
        ok(/--offline/.test(r.stderr), r.stderr);
      });
    } finally {
      await d?.cleanup();
      await proxy?.close();
      await reg.stop();
    }
  },
});
