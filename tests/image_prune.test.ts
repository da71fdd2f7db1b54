/**
 * `polis image prune [-a] [-f]` and `polis system df` through a real daemon and the real
 * CLI: an image pulled by digest only is dangling and goes with a plain prune; `-a` takes
 * every image no container uses and keeps the one a container uses; `system df` counts
 * images and containers, active and reclaimable, as docker prints them.
 */
import { deepStrictEqual as eq, ok } from "node:assert/strict";
import { daemonTest, isRoot, type TestDaemon } from "./helpers/fixture.ts";
import { busyboxImages } from "./helpers/image.ts";
import { hasRegistry, TestRegistry } from "./helpers/registry.ts";

if (isRoot && !hasRegistry) console.log("no /usr/bin/docker-registry: prune tests skipped");

async function ids(d: TestDaemon): Promise<string[]> {
  const out = await d.ok(["images", "-q", "--no-trunc"]);
  return out.split("\n").filter((l) => l !== "").sort();
}

/** The `system df` row for a type, split on runs of 2+ spaces. */
async function dfRow(d: TestDaemon, type: string): Promise<string[]> {
  const out = await d.ok(["system", "df"]);
  const lines = out.trimEnd().split("\n");
  eq(lines[0].split(/\s{2,}/), ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]);
  const row = lines.find((l) => l.startsWith(type + "  "));
  ok(row, out);
  return row.split(/\s{2,}/);
}

if (hasRegistry) {
  daemonTest(
    "image prune removes dangling, then unused images; system df counts them",
    async (d, t) => {
      const reg = new TestRegistry();
      const name = `prune-${Date.now().toString(36)}`;
      try {
        await reg.start();
        const imgs = await busyboxImages();
        await reg.push(`oci:${imgs.ociDir}:busybox-cfg:latest`, "test/hello:1");
        const digest = await reg.digest("test/hello:1");
        const dangling = `${reg.host}/test/hello@${digest}`;
        await d.ok(["pull", "-q", dangling]);
        const danglingId = JSON.parse(await d.ok(["image", "inspect", dangling]))[0].Id as string;
        const busyboxId = JSON.parse(await d.ok(["image", "inspect", "busybox"]))[0].Id as string;
        ok(danglingId !== busyboxId);
        await d.ok(["create", "--name", name, "busybox", "true"]);

        await t.step("system df: images and containers, active and reclaimable", async () => {
          const images = await dfRow(d, "Images");
          eq(images[1], String((await ids(d)).length));
          eq(images[2], "1");
          ok(/^\d+(\.\d+)?[kMG]?B$/.test(images[3]), images.join("|"));
          ok(/\(\d+%\)$/.test(images[4]), images.join("|"));
          const containers = await dfRow(d, "Containers");
          eq(containers.slice(0, 3), ["Containers", "1", "0"]);
          eq((await dfRow(d, "Local Volumes")).slice(1, 3), ["0", "0"]);
          eq((await dfRow(d, "Build Cache")).slice(1, 3), ["0", "0"]);
        });

        await t.step("prune -f deletes the untagged image only", async () => {
          const out = await d.ok(["image", "prune", "-f"]);
          ok(out.includes(`deleted: ${danglingId}\n`), out);
          ok(/^Total reclaimed space: \S+$/m.test(out), out);
          const left = await ids(d);
          ok(!left.includes(danglingId), left.join(","));
          ok(left.includes(busyboxId), left.join(","));
        });

        await t.step("prune -a -f keeps the image a container uses, removes the rest", async () => {
          await d.ok(["pull", "-q", `${reg.host}/test/hello:1`]);
          ok((await ids(d)).includes(danglingId));
          const out = await d.ok(["image", "prune", "-a", "-f"]);
          ok(out.includes(`untagged: ${reg.host}/test/hello:1\n`), out);
          ok(out.includes(`deleted: ${danglingId}\n`), out);
          eq(await ids(d), [busyboxId]);
          await d.ok(["start", name]);
          eq(await d.ok(["wait", name]), "0\n");
        });

        await t.step("without -f, an answer other than y keeps everything", async () => {
          await d.ok(["rm", name]);
          const r = await d.cli(["image", "prune", "-a"], { stdin: "n\n" });
          eq(r.code, 0, r.stderr);
          ok(r.stdout.startsWith("WARNING! This will remove all images without"), r.stdout);
          eq(await ids(d), [busyboxId]);
        });
      } finally {
        await d.cli(["rm", "-f", name]);
        await reg.stop();
      }
    },
  );
}
