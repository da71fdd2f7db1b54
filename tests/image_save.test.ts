/**
 * `polis save` through a real daemon and the real CLI: a docker-archive that skopeo (an
 * independent reader) copies from `docker-archive:` and that `polis load` takes back after
 * `rmi`, the image then running; an OCI layout tar that skopeo reads as `oci-archive:` and
 * that loads back too; an unknown image fails with a clear message and leaves no file.
 */
import { deepStrictEqual as eq, ok } from "node:assert/strict";
import { daemonTest } from "./helpers/fixture.ts";

const hasSkopeo = (() => {
  try {
    return Deno.statSync("/usr/bin/skopeo").isFile;
  } catch {
    return false;
  }
})();

async function skopeo(args: string[]): Promise<string> {
  const out = await new Deno.Command("skopeo", { args: ["--insecure-policy", ...args] }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(`skopeo ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return text;
}

daemonTest(
  "save writes docker-archive and OCI tars that load back and that skopeo reads",
  async (d, t) => {
    const dir = Deno.makeTempDirSync({ prefix: "polis-save-" });
    try {
      const id = JSON.parse(await d.ok(["image", "inspect", "busybox"]))[0].Id as string;
      await d.ok(["tag", "busybox", "saved/box:1"]);

      await t.step("docker-archive: rmi, load back, run", async () => {
        const file = `${dir}/box.tar`;
        eq(await d.ok(["save", "-o", file, "saved/box:1"]), "");
        if (hasSkopeo) {
          const info = JSON.parse(await skopeo(["inspect", `docker-archive:${file}`]));
          eq(info.Layers.length > 0, true);
          await skopeo(["copy", "--quiet", `docker-archive:${file}`, `oci:${dir}/via-skopeo:x`]);
        }
        await d.ok(["rmi", "saved/box:1"]);
        await d.ok(["rmi", "busybox"]);
        eq((await d.ok(["images", "-q"])).trim(), "");
        const out = await d.ok(["load", "-i", file]);
        ok(out.includes("saved/box:1"), out);
        eq(JSON.parse(await d.ok(["image", "inspect", "saved/box:1"]))[0].Id, id);
        eq(await d.ok(["run", "--rm", "saved/box:1", "echo", "loaded back"]), "loaded back\n");
      });

      await t.step("oci: an OCI layout tar, read by skopeo, loads back", async () => {
        const file = `${dir}/box-oci.tar`;
        await d.ok(["save", "--format", "oci", "-o", file, "saved/box:1"]);
        if (hasSkopeo) {
          const info = JSON.parse(await skopeo(["inspect", `oci-archive:${file}:1`]));
          eq(info.Layers.length > 0, true);
        }
        await d.ok(["rmi", "saved/box:1"]);
        await d.ok(["load", "-i", file]);
        const r = JSON.parse(await d.ok(["image", "inspect", id]))[0];
        eq(r.Id, id);
        eq(await d.ok(["run", "--rm", id, "echo", "oci"]), "oci\n");
      });

      await t.step("an unknown image fails clearly and leaves no file", async () => {
        const file = `${dir}/nope.tar`;
        const r = await d.cli(["save", "-o", file, "nope:1"]);
        eq(r.code, 1);
        ok(/No such image: nope:1/.test(r.stderr), r.stderr);
        eq([...Deno.readDirSync(dir)].filter((e) => e.name.startsWith("nope")).length, 0);
      });
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
);
