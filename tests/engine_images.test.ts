/**
 * Local images through the real CLI: load (docker-save, OCI tar, stdin), images,
 * tag, image inspect, rmi, and the image config applied exactly as docker does.
 */

import { deepStrictEqual as assertEquals, match, ok } from "node:assert/strict";
import { daemonTest } from "./helpers/fixture.ts";
import { busyboxImages, busyboxVariant } from "./helpers/image.ts";

daemonTest("local images load, list, tag, inspect and remove as with docker", async (d, t) => {
  const imgs = await busyboxImages();

  await t.step("images lists the loaded busybox with its tag", async () => {
    const out = await d.ok(["images"]);
    match(out, /^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE/);
    match(out, /\nbusybox\s+latest\s+[0-9a-f]{12}\s/);
  });

  await t.step("an OCI layout tar loads too", async () => {
    const out = await d.ok(["load", "-i", imgs.ociArchive]);
    match(out, /Loaded image/);
  });

  await t.step("an OCI layout directory loads too", async () => {
    const out = await d.ok(["load", "-i", imgs.ociDir]);
    match(out, /Loaded image/);
  });

  await t.step("load reads an archive from stdin", async () => {
    const variant = await busyboxVariant({ name: "polis-test/stdin:1", cmd: ["true"] });
    const cmd = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--unstable-net", "--quiet", d.main, "load"],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      env: d.env,
    }).spawn();
    const f = await Deno.open(variant);
    await f.readable.pipeTo(cmd.stdin);
    const r = await cmd.output();
    assertEquals(r.code, 0, new TextDecoder().decode(r.stderr));
    match(new TextDecoder().decode(r.stdout), /polis-test\/stdin:1/);
  });

  await t.step("image inspect has docker's shape", async () => {
    const [img] = JSON.parse(await d.ok(["image", "inspect", "busybox"]));
    match(img.Id, /^sha256:[0-9a-f]{64}$/);
    assertEquals(img.RepoTags, ["busybox:latest"]);
    assertEquals(img.Os, "linux");
    ok(typeof img.Architecture === "string" && img.Architecture.length > 0);
    assertEquals(img.RootFS.Type, "layers");
    ok(img.RootFS.Layers.length >= 1);
    assertEquals(img.Config.Cmd, ["sh"]);
  });

  await t.step("tag adds a name; rmi of one of two names only untags", async () => {
    await d.ok(["tag", "busybox", "polis-test/box:v2"]);
    const a = JSON.parse(await d.ok(["image", "inspect", "busybox"]))[0];
    const b = JSON.parse(await d.ok(["image", "inspect", "polis-test/box:v2"]))[0];
    assertEquals(a.Id, b.Id);
    const out = await d.ok(["rmi", "polis-test/box:v2"]);
    match(out, /Untagged: polis-test\/box:v2/);
    ok(!/Deleted/.test(out), out);
    assertEquals((await d.cli(["image", "inspect", "polis-test/box:v2"])).code !== 0, true);
    // busybox itself is untouched
    await d.ok(["image", "inspect", "busybox"]);
  });

  await t.step("a container runs from an image named by id prefix", async () => {
    const id = JSON.parse(await d.ok(["image", "inspect", "busybox"]))[0].Id.slice(7, 19);
    assertEquals(await d.ok(["run", "--rm", id, "echo", "by-id"]), "by-id\n");
  });

  await t.step(
    "Entrypoint, Cmd, Env, WorkingDir and User apply as docker applies them",
    async () => {
      const archive = await busyboxVariant({
        name: "polis-test/cfg:1",
        entrypoint: ["/bin/sh", "-c", 'echo "ep:$0:$*:$GREETING:$(pwd):$(id -u)"'],
        cmd: ["default-arg"],
        env: ["GREETING=hi", "PATH=/bin"],
        workingDir: "/tmp",
        user: "nobody",
      });
      await d.ok(["load", "-i", archive]);
      // image defaults
      assertEquals(
        await d.ok(["run", "--rm", "polis-test/cfg:1"]),
        "ep:default-arg::hi:/tmp:65534\n",
      );
      // CMD replaced by the run arguments, entrypoint kept
      assertEquals(
        await d.ok(["run", "--rm", "polis-test/cfg:1", "x", "y"]),
        "ep:x:y:hi:/tmp:65534\n",
      );
      // -e overrides the image env, -w and -u override dir and user
      assertEquals(
        await d.ok(["run", "--rm", "-e", "GREETING=yo", "-w", "/", "-u", "0", "polis-test/cfg:1"]),
        "ep:default-arg::yo:/:0\n",
      );
      // --entrypoint replaces the entrypoint and drops the image's CMD
      assertEquals(await d.ok(["run", "--rm", "--entrypoint", "echo", "polis-test/cfg:1"]), "\n");
      assertEquals(
        await d.ok(["run", "--rm", "--entrypoint", "echo", "polis-test/cfg:1", "a", "b"]),
        "a b\n",
      );
    },
  );

  await t.step("rmi refuses an image a container uses and deletes it once unused", async () => {
    await d.ok(["create", "--name", "user-of-cfg", "polis-test/cfg:1"]);
    const r = await d.cli(["rmi", "polis-test/cfg:1"]);
    ok(r.code !== 0);
    match(r.stderr, /container/i);
    await d.ok(["rm", "user-of-cfg"]);
    const out = await d.ok(["rmi", "polis-test/cfg:1"]);
    match(out, /Deleted: sha256:/);
    const names = (await d.ok(["images", "--format", "json"])).trim().split("\n").map((l) =>
      JSON.parse(l)
    );
    ok(!JSON.stringify(names).includes("polis-test/cfg"), JSON.stringify(names));
  });

  await t.step("a corrupt archive is refused and nothing is stored", async () => {
    const before = await d.ok(["images", "-q"]);
    const bad = `${d.dir}/bad.tar`;
    Deno.writeFileSync(bad, new TextEncoder().encode("this is not a tar archive at all"));
    const r = await d.cli(["load", "-i", bad]);
    ok(r.code !== 0);
    assertEquals(r.stderr.trim().split("\n").length <= 2, true, r.stderr);
    assertEquals(await d.ok(["images", "-q"]), before);
  });

  await t.step("unknown image names are refused", async () => {
    const r = await d.cli(["rmi", "nosuch:tag"]);
    ok(r.code !== 0);
    match(r.stderr, /No such image/);
    const bad = await d.cli(["tag", "busybox", "Bad/UPPER:case"]);
    ok(bad.code !== 0);
  });
});
