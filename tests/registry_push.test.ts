/**
 * `polis push` through a real daemon and the real CLI to Debian's docker-registry: the
 * blobs go up (HEAD first, then POST + PUT), the manifest last; skopeo (an independent
 * client) reads what was pushed; a second push uploads nothing; a fresh daemon pulls the
 * image back and runs it; an image that is not local fails clearly. Blobs of another
 * repository on the same registry are mounted, not uploaded; a 20 MiB layer goes up in
 * 8 MiB PATCH chunks and skopeo reads it back; progress streams through the API.
 */
import { deepStrictEqual as eq, ok } from "node:assert/strict";
import { TestDaemon } from "./helpers/daemon.ts";
import { daemonTest, isRoot } from "./helpers/fixture.ts";
import { busyboxImages } from "./helpers/image.ts";
import { addBigLayer, hasRegistry, TestRegistry, ThrottleProxy } from "./helpers/registry.ts";

/** Bigger than two 8 MiB chunks. */
const BIG = 20 * 1024 * 1024;

if (isRoot && !hasRegistry) console.log("no /usr/bin/docker-registry: push tests skipped");

if (hasRegistry) {
  daemonTest("push uploads an image a fresh daemon pulls and runs", async (d, t) => {
    const reg = new TestRegistry();
    try {
      await reg.start();
      const ref = `${reg.host}/pushed/box:1`;
      await d.ok(["tag", "busybox", ref]);

      await t.step("push prints docker's lines; skopeo sees the manifest", async () => {
        const out = await d.ok(["push", ref]);
        ok(out.startsWith(`The push refers to repository [${reg.host}/pushed/box]\n`), out);
        ok(/^[0-9a-f]{12}: Pushed$/m.test(out), out);
        const m = /^1: digest: (sha256:[0-9a-f]{64}) size: (\d+)$/m.exec(out);
        ok(m, out);
        eq(await reg.digest("pushed/box:1"), m[1]);
        const sk = await new Deno.Command("skopeo", {
          args: ["inspect", "--tls-verify=false", `docker://${ref}`],
        }).output();
        ok(sk.success, new TextDecoder().decode(sk.stderr));
        const info = JSON.parse(new TextDecoder().decode(sk.stdout));
        eq(info.Digest, m[1]);
      });

      await t.step("a second push uploads nothing", async () => {
        const out = await d.ok(["push", ref]);
        ok(!/: Pushed$/m.test(out), out);
        ok(/^[0-9a-f]{12}: Layer already exists$/m.test(out), out);
      });

      await t.step("a fresh daemon pulls it and runs it", async () => {
        const fresh = new TestDaemon("push-fresh");
        try {
          await fresh.start();
          await fresh.ok(["pull", "-q", ref]);
          eq(await fresh.ok(["run", "--rm", ref, "echo", "pushed"]), "pushed\n");
          const id = JSON.parse(await d.ok(["image", "inspect", "busybox"]))[0].Id;
          eq(JSON.parse(await fresh.ok(["image", "inspect", ref]))[0].Id, id);
        } finally {
          await fresh.cleanup();
        }
      });

      await t.step("an image that is not here fails clearly", async () => {
        const r = await d.cli(["push", `${reg.host}/pushed/nope:1`]);
        eq(r.code, 1);
        ok(/No such image: .*pushed\/nope:1/.test(r.stderr), r.stderr);
      });
    } finally {
      await reg.stop();
    }
  });
}

if (hasRegistry) {
  daemonTest(
    "push mounts blobs across repositories and uploads big layers in chunks",
    async (d, t) => {
      const reg = new TestRegistry();
      const other = new TestRegistry();
      let proxy: ThrottleProxy | undefined;
      let otherProxy: ThrottleProxy | undefined;
      const out = await Deno.makeTempDir({ prefix: "polis-push-out-" });
      try {
        await reg.start();
        await other.start();
        proxy = new ThrottleProxy(reg.port);
        otherProxy = new ThrottleProxy(other.port);
        const imgs = await busyboxImages();
        await addBigLayer(imgs.ociDir, "push-big", BIG);
        await reg.push(`oci:${imgs.ociDir}:push-big`, "src/big:1");
        const src = `${proxy.host}/src/big:1`;
        await d.ok(["pull", "-q", src]);
        const seen = proxy.requests;
        const hostSeen = otherProxy.requests;

        await t.step("a blob of another repository there is mounted, not uploaded", async () => {
          const before = seen.length;
          const dst = `${proxy!.host}/dst/big:1`;
          await d.ok(["tag", src, dst]);
          const text = await d.ok(["push", dst]);
          ok(/^[0-9a-f]{12}: Mounted from src\/big$/m.test(text), text);
          ok(!/: Pushed$/m.test(text), text);
          const sent = seen.slice(before);
          ok(
            sent.some((r) => /^POST \/v2\/dst\/big\/blobs\/uploads\/\?mount=sha256(:|%3A)/.test(r)),
            sent.join("\n"),
          );
          ok(!sent.some((r) => /^(PATCH|PUT) \/v2\/dst\/big\/blobs\//.test(r)), sent.join("\n"));
          const layers = JSON.parse(await d.ok(["image", "inspect", dst]))[0];
          ok(layers.RootFS.Layers.length >= 2);
          // The registry links the blobs into the new repository.
          const linked = [...Deno.readDirSync(
            `${reg.storage}/docker/registry/v2/repositories/dst/big/_layers/sha256`,
          )].length;
          ok(linked >= 3, String(linked)); // busybox layer, big layer, config
        });

        await t.step("a multi-MiB layer goes up in chunks that read back intact", async () => {
          const dst = `${otherProxy!.host}/chunked/big:1`;
          await d.ok(["tag", src, dst]);
          const text = await d.ok(["push", dst]);
          ok(/^[0-9a-f]{12}: Pushed$/m.test(text), text);
          ok(!/: Pushing/m.test(text), text); // plain output: no progress lines
          const patches = hostSeen.filter((r) =>
            r.startsWith("PATCH /v2/chunked/big/blobs/uploads/")
          );
          ok(patches.length >= Math.ceil(BIG / (8 * 1024 * 1024)), hostSeen.join("\n"));
          // skopeo (an independent client) copies it out, checking every digest.
          const sk = await new Deno.Command("skopeo", {
            args: [
              "--insecure-policy",
              "copy",
              "--quiet",
              "--src-tls-verify=false",
              `docker://${dst}`,
              `dir:${out}/copy`,
            ],
          }).output();
          ok(sk.success, new TextDecoder().decode(sk.stderr));
          const sizes = [...Deno.readDirSync(`${out}/copy`)].map((e) =>
            Deno.statSync(`${out}/copy/${e.name}`).size
          );
          ok(sizes.some((s) => s > BIG), String(sizes));
          const fresh = new TestDaemon("push-chunked");
          try {
            await fresh.start();
            await fresh.ok(["pull", "-q", dst]);
            eq(
              await fresh.ok(["run", "--rm", dst, "stat", "-c", "%s", "/data/blob.bin"]),
              `${BIG}\n`,
            );
          } finally {
            await fresh.cleanup();
          }
        });

        await t.step(
          "progress streams through the API as JSON lines; -q prints the name",
          async () => {
            const dst = `${otherProxy!.host}/progress/big:1`;
            await d.ok(["tag", src, dst]);
            const client = Deno.createHttpClient({ proxy: { transport: "unix", path: d.socket } });
            try {
              const res = await fetch(`http://polis/v1/images/${encodeURIComponent(dst)}/push`, {
                method: "POST",
                client,
              });
              eq(res.status, 200);
              eq(res.headers.get("content-type"), "application/x-ndjson");
              const lines = (await res.text()).trim().split("\n").map((l) => JSON.parse(l));
              eq(lines[0], {
                status: `The push refers to repository [${otherProxy!.host}/progress/big]`,
              });
              ok(lines.some((l) => l.status === "Preparing" && /^[0-9a-f]{12}$/.test(l.id)));
              // The big layer: random bytes, so its gzip is a little bigger than them.
              const pushing = lines.filter((l) => l.status === "Pushing" && l.total > BIG);
              ok(pushing.length >= 2, JSON.stringify(lines));
              ok(
                pushing.some((l) => l.current > 0 && l.current < l.total),
                JSON.stringify(pushing),
              );
              const done = lines.at(-1);
              eq(done.status, "done");
              eq(done.reference, dst);
              ok(/^sha256:[0-9a-f]{64}$/.test(done.digest), JSON.stringify(done));
            } finally {
              client.close();
            }
            eq(await d.ok(["push", "-q", dst]), `${dst}\n`);
          },
        );
      } finally {
        await proxy?.close();
        await otherProxy?.close();
        await reg.stop();
        await other.stop();
        await Deno.remove(out, { recursive: true }).catch(() => {});
      }
    },
  );
}
