/**
 * `polis push` through a real daemon and the real CLI to Debian's docker-registry: the
 * blobs go up (HEAD first, then POST + PUT), the manifest last; skopeo (an independent
 * client) reads what was pushed; a second push uploads nothing; a fresh daemon pulls the
 * image back and runs it; an image that is not local fails clearly.
 */
import { deepStrictEqual as eq, ok } from "node:assert/strict";
import { TestDaemon } from "./helpers/daemon.ts";
import { daemonTest, isRoot } from "./helpers/fixture.ts";
import { hasRegistry, TestRegistry } from "./helpers/registry.ts";

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
