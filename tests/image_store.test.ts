/**
 * The image store end to end, as root: loading docker-save archives and OCI
 * layouts built by umoci/skopeo, names and removal, refusal of tampered
 * content, and container root filesystems over overlayfs or by copy.
 */
import { deepStrictEqual as eq, ok, rejects, throws } from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { PolisError } from "../src/core/errors.ts";
import {
  ImageStore,
  overlayMountData,
  resolveProcess,
  resolveUser,
  type RootfsDescription,
} from "../src/image/mod.ts";
import {
  busyboxImages,
  busyboxVariant,
  copyDir,
  isRoot,
  readJson,
  streamOf,
  tarBytes,
} from "./helpers/image.ts";

const ignore = !isRoot;
if (ignore) console.log("image_store tests need root (overlay mounts, owners): skipped");

interface Env {
  root: string;
  db: DatabaseSync;
  store: ImageStore;
}

async function withStore(
  fn: (env: Env) => Promise<void>,
  opts: { overlay?: boolean } = {},
): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "polis-image-" });
  const db = new DatabaseSync(`${root}/polis.db`);
  db.exec("PRAGMA foreign_keys=ON");
  try {
    const store = new ImageStore({ root, db, overlay: opts.overlay });
    await fn({ root, db, store });
  } finally {
    db.close();
    await Deno.remove(root, { recursive: true });
  }
}

function ls(dir: string): string[] {
  try {
    return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
  } catch {
    return [];
  }
}

function rowCount(db: DatabaseSync): number {
  let n = 0;
  for (
    const t of [
      "image_images",
      "image_names",
      "image_layers",
      "image_image_layers",
      "image_image_blobs",
    ]
  ) {
    n += Number((db.prepare(`SELECT count(*) AS n FROM ${t}`).get() as { n: number }).n);
  }
  return n;
}

async function sh(cmd: string, ...args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr).trim()}`);
  }
  return new TextDecoder().decode(out.stdout);
}

const nobodyUser = (_: string) => undefined;

Deno.test({
  name: "load of a docker-save archive lists busybox:latest with its config",
  ignore,
  fn: () =>
    withStore(async ({ store, root }) => {
      const imgs = await busyboxImages();
      eq(await store.load(imgs.dockerArchive), { loaded: ["busybox:latest"] });
      const list = store.list();
      eq(list.length, 1);
      const img = list[0];
      eq(img.repoTags, ["busybox:latest"]);
      eq(img.repoDigests, []);
      eq(img.config.Cmd, ["sh"]);
      eq(img.created, "2024-01-02T03:04:05Z");
      eq([img.os, img.architecture], ["linux", Deno.build.arch === "aarch64" ? "arm64" : "amd64"]);
      eq(img.diffIds.length, 1);
      eq(img.chainIds, img.diffIds);
      ok(img.size > 1_900_000, `size ${img.size}`);
      ok(/^sha256:[a-f0-9]{64}$/.test(img.id));
      eq(ls(`${root}/layers`), [img.chainIds[0].slice(7)]);
      eq(ls(`${root}/l`).length, 1);
      eq(ls(`${root}/tmp`), [], "no temp files after a load");
      const inspect = store.inspect("busybox");
      eq(inspect.Id, img.id);
      eq(inspect.RootFS, { Type: "layers", Layers: img.diffIds });
      eq(inspect.Config.Env, ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]);
    }),
});

Deno.test({
  name: "load of an OCI layout dir loads every image; a bare ref.name loads untagged",
  ignore,
  fn: () =>
    withStore(async ({ store }) => {
      const imgs = await busyboxImages();
      const { loaded } = await store.load(imgs.ociDir);
      eq(loaded.filter((n) => !n.startsWith("sha256:")).sort(), [
        "busybox-cfg:latest",
        "busybox-wh:latest",
        "busybox:latest",
      ]);
      eq(loaded.filter((n) => n.startsWith("sha256:")).length, 1, "the 'base' image has no repo");
      eq(store.list().length, 4);
      const cfg = store.get("busybox-cfg");
      eq(cfg.config.Entrypoint, ["/bin/echo"]);
      eq(cfg.config.WorkingDir, "/tmp");
      eq(cfg.config.User, "nobody");
      eq(cfg.config.Labels, { "org.example.test": "yes" });
      eq(resolveProcess(cfg.config, {}).args, ["/bin/echo", "hello"]);
      const wh = store.get("busybox-wh:latest");
      eq(wh.diffIds.length, 2);
      eq(wh.chainIds[0], store.get("busybox").chainIds[0], "the base layer is shared");
    }),
});

Deno.test({
  name: "load of an OCI layout tar and of a stream give the same image as the docker archive",
  ignore,
  fn: () =>
    withStore(async ({ store, root }) => {
      const imgs = await busyboxImages();
      await store.load(imgs.ociArchive);
      const fromOci = store.get("busybox");
      const layersBefore = ls(`${root}/layers`);
      const f = await Deno.open(imgs.dockerArchive);
      eq(await store.load(f.readable), { loaded: ["busybox:latest"] });
      eq(store.get("busybox").id, fromOci.id, "same config blob, same id");
      eq(ls(`${root}/layers`), layersBefore, "no layer unpacked twice");
      eq(store.list().length, 4);
      eq(ls(`${root}/tmp`), []);
    }),
});

Deno.test({
  name: "get resolves names, full ids with or without sha256:, and unique prefixes",
  ignore,
  fn: () =>
    withStore(async ({ store }) => {
      const imgs = await busyboxImages();
      await store.load(imgs.dockerArchive);
      const id = store.get("busybox").id;
      for (
        const ref of [
          "busybox:latest",
          "docker.io/library/busybox",
          id,
          id.slice(7),
          id.slice(7, 11),
          id.slice(0, 19),
        ]
      ) {
        eq(store.get(ref).id, id, ref);
      }
      for (const ref of ["busybox:1", "nothere", "abc", "ffff"]) {
        throws(() => store.get(ref), (e: unknown) =>
          e instanceof PolisError && e.code === "not_found" &&
          e.message === `No such image: ${ref}`);
      }
    }),
});

Deno.test({
  name: "tag and remove follow docker rmi: untag while names remain, conflicts unless forced",
  ignore,
  fn: () =>
    withStore(async ({ store, root }) => {
      const imgs = await busyboxImages();
      await store.load(imgs.dockerArchive);
      const id = store.get("busybox").id;
      store.tag("busybox", "localhost:5000/team/bb:1");
      store.tag(id.slice(7, 19), "mine");
      eq(store.get("busybox").repoTags, [
        "busybox:latest",
        "localhost:5000/team/bb:1",
        "mine:latest",
      ]);
      throws(() => store.tag("busybox", "Bad:Tag"), { code: "invalid_argument" });
      throws(() => store.tag("nope", "x"), { code: "not_found" });

      // A name with others left: untag only, even when a container uses the image.
      eq(store.remove("mine", { usedBy: () => "c0ffee" + "0".repeat(58) }), [{
        Untagged: "mine:latest",
      }]);
      // By id with several names: conflict unless forced.
      throws(() => store.remove(id, { usedBy: nobodyUser }), (e: unknown) =>
        e instanceof PolisError && e.code === "conflict" &&
        /referenced in multiple repositories/.test(e.message));
      // In use by a container: conflict; forced, it only untags.
      const user = "abcdef0123456789" + "0".repeat(48);
      throws(() =>
        store.remove(id, {
          usedBy: () =>
            user,
        }), (e: unknown) =>
        e instanceof PolisError && e.code === "conflict" &&
        /container abcdef012345/.test(e.message));
      eq(
        store.remove("busybox", {
          usedBy: () =>
            user,
        }),
        [{ Untagged: "busybox:latest" }],
      );
      throws(() =>
        store.remove("localhost:5000/team/bb:1", { usedBy: () => user }), (e: unknown) =>
        e instanceof PolisError && e.code === "conflict" && /must force/.test(e.message));
      eq(
        store.remove("localhost:5000/team/bb:1", {
          force: true,
          usedBy: () =>
            user,
        }),
        [
          { Untagged: "localhost:5000/team/bb:1" },
        ],
      );
      eq(store.get(id).repoTags, [], "forced removal of a used image leaves it dangling");
      ok(ls(`${root}/blobs/sha256`).length > 0);

      // Unused and untagged: deleted with its layer and blobs.
      const chain = store.get(id).chainIds[0];
      eq(store.remove(id, { usedBy: nobodyUser }), [{ Deleted: id }, { Deleted: chain }]);
      eq(store.list(), []);
      eq(ls(`${root}/layers`), []);
      eq(ls(`${root}/l`), []);
      eq(ls(`${root}/blobs/sha256`), []);
      eq(ls(`${root}/tmp`), []);
    }),
});

Deno.test({
  name: "removing the last tag deletes the image but keeps layers another image shares",
  ignore,
  fn: () =>
    withStore(async ({ store, root }) => {
      const imgs = await busyboxImages();
      await store.load(imgs.ociDir);
      const base = store.get("busybox");
      const wh = store.get("busybox-wh");
      const res = store.remove("busybox-wh", { usedBy: nobodyUser });
      eq(res, [
        { Untagged: "busybox-wh:latest" },
        { Deleted: wh.id },
        { Deleted: wh.chainIds[1] },
      ]);
      ok(ls(`${root}/layers`).includes(base.chainIds[0].slice(7)));
      ok(!ls(`${root}/layers`).includes(wh.chainIds[1].slice(7)));
      eq(store.get("busybox").id, base.id);
    }),
});

Deno.test({
  name: "a tampered layer blob is refused and nothing is stored: no rows, blobs or temp dirs",
  ignore,
  fn: () =>
    withStore(async ({ store, root, db }) => {
      const imgs = await busyboxImages();
      const copy = `${root}/../${root.split("/").pop()}-tampered`;
      await copyDir(imgs.ociDir, copy);
      try {
        // Flip one byte inside the busybox layer (the biggest blob).
        const blobs = `${copy}/blobs/sha256`;
        const biggest = ls(blobs).map((n) => ({ n, size: Deno.statSync(`${blobs}/${n}`).size }))
          .sort((a, b) => b.size - a.size)[0].n;
        const f = await Deno.open(`${blobs}/${biggest}`, { read: true, write: true });
        const b = new Uint8Array(1);
        await f.seek(5000, Deno.SeekMode.Start);
        await f.read(b);
        b[0] ^= 0xff;
        await f.seek(5000, Deno.SeekMode.Start);
        await f.write(b);
        f.close();

        await rejects(store.load(copy), (e: unknown) =>
          e instanceof PolisError && e.code === "invalid_argument" &&
          e.message.includes(`sha256:${biggest}: content does not match its digest`));
        eq(rowCount(db), 0);
        eq(ls(`${root}/blobs/sha256`), []);
        eq(ls(`${root}/layers`), []);
        eq(ls(`${root}/l`), []);
        eq(ls(`${root}/tmp`), []);

        // The same as a tar: refused the same way, and the extraction is gone too.
        const tarPath = `${copy}.tar`;
        await sh("tar", "-C", copy, "-cf", tarPath, ".");
        try {
          await rejects(store.load(tarPath), /content does not match its digest/);
        } finally {
          await Deno.remove(tarPath);
        }
        eq(rowCount(db), 0);
        eq(ls(`${root}/blobs/sha256`), []);
        eq(ls(`${root}/tmp`), []);

        // A store that already holds an image keeps it intact.
        await store.load(imgs.dockerArchive);
        const before = rowCount(db);
        const blobsBefore = ls(`${root}/blobs/sha256`);
        await rejects(store.load(copy), /content does not match its digest/);
        eq(rowCount(db), before);
        eq(ls(`${root}/blobs/sha256`), blobsBefore);
        eq(
          store.list().map((i) =>
            i.repoTags
          ),
          [["busybox:latest"]],
        );
      } finally {
        await Deno.remove(copy, { recursive: true });
      }
    }),
});

Deno.test({
  name: "an archive with an entry escaping it is refused and leaves nothing",
  ignore,
  fn: () =>
    withStore(async ({ store, root, db }) => {
      const bytes = await tarBytes([{ name: "manifest.json", body: "[]" }, {
        name: "../evil",
        body: "x",
      }]);
      await rejects(store.load(streamOf(bytes)), {
        message: 'image archive: entry "../evil" escapes the archive',
      });
      await rejects(
        store.load(streamOf(await tarBytes([{ name: "hello", body: "x" }]))),
        /not an image archive/,
      );
      await rejects(store.load(`${root}/missing.tar`), /no such file or directory/);
      eq(rowCount(db), 0);
      eq(ls(`${root}/tmp`), []);
      ok(!ls(`${root}/..`).includes("evil"));
    }),
});

async function mountOverlay(d: RootfsDescription): Promise<string> {
  if (d.kind !== "overlay") throw new Error(`expected an overlay description, got ${d.kind}`);
  await sh("mount", "-t", "overlay", "overlay", "-o", overlayMountData(d), d.target);
  return d.target;
}

function checkWhiteoutView(rootfs: string): void {
  ok(Deno.statSync(`${rootfs}/bin/busybox`).isFile);
  ok(!ls(`${rootfs}/etc`).includes("group"), "etc/group was whited out");
  eq(ls(`${rootfs}/etc`), ["added", "passwd"]);
  ok(!ls(`${rootfs}/bin`).includes("ls"), "bin/ls was whited out");
  ok(ls(`${rootfs}/bin`).includes("cat"));
  eq(ls(`${rootfs}/opt/old`), ["c"], "the opaque dir hides the lower a and b");
  eq(Deno.readTextFileSync(`${rootfs}/opt/old/c`), "new c\n");
  eq(Deno.statSync(`${rootfs}/etc/added`).mode! & 0o7777, 0o4755);
  eq(Deno.statSync(`${rootfs}/tmp`).mode! & 0o7777, 0o1777);
  eq(Deno.lstatSync(rootfs).mode! & 0o777, 0o755);
}

Deno.test({
  name: "prepareRootfs describes an overlay that, mounted, shows the image with whiteouts applied",
  ignore,
  fn: () =>
    withStore(async ({ store, root }) => {
      const imgs = await busyboxImages();
      await store.load(imgs.ociDir);
      const cid = "c".repeat(64);
      const d = store.prepareRootfs(store.get("busybox-wh").id, cid);
      eq(d.kind, "overlay");
      if (d.kind !== "overlay") return;
      eq(d.lowerdirs.length, 2);
      ok(
        d.lowerdirs.every((l) => l.startsWith(`${root}/l/`) && l.length === root.length + 11),
      );
      eq(d.target, `${root}/containers/${cid}/rootfs`);
      eq(store.prepareRootfs(store.get("busybox-wh").id, cid), d, "idempotent");
      let mounted = false;
      try {
        const rootfs = await mountOverlay(d);
        mounted = true;
        checkWhiteoutView(rootfs);
        eq(
          (await sh("chroot", rootfs, "/bin/busybox", "cat", "/opt/old/c")).trim(),
          "new c",
        );
        eq(resolveUser(rootfs, "nobody").uid, 65534);
        // Writes land in the container's upper dir, never in a shared layer.
        await Deno.writeTextFile(`${rootfs}/etc/passwd`, "changed\n");
        eq(Deno.readTextFileSync(`${d.upperdir}/etc/passwd`), "changed\n");
        const other = store.prepareRootfs(store.get("busybox").id, "other");
        eq(other.kind, "overlay");
        store.removeRootfs("other");
        throws(() => store.removeRootfs(cid), { code: "failed_precondition" });
      } finally {
        if (mounted) await sh("umount", d.target);
      }
      store.removeRootfs(cid);
      eq(ls(`${root}/containers`), []);
    }),
});

Deno.test({
  name: "the copy fallback builds a plain rootfs with whiteouts, modes, owners and links",
  ignore,
  fn: () =>
    withStore(async ({ store, root }) => {
      const imgs = await busyboxImages();
      eq(await store.load(imgs.whiteoutArchive), { loaded: ["busybox-wh:latest"] });
      const img = store.get("busybox-wh");
      const d = store.prepareRootfs(img.id, "copy1");
      eq(d, { kind: "copy", path: `${root}/containers/copy1/rootfs` });
      if (d.kind !== "copy") return;
      checkWhiteoutView(d.path);
      eq(Deno.readLinkSync(`${d.path}/bin/sh`), "busybox");
      eq(resolveUser(d.path, "nobody"), {
        uid: 65534,
        gid: 65534,
        additionalGids: [],
        home: "/home/nobody",
      });
      throws(() => resolveUser(d.path, "ghost"), {
        message: "unable to find user ghost: no matching entries in passwd file",
      });
      eq((await sh("chroot", d.path, "/bin/sh", "-c", "echo hi")).trim(), "hi");
      store.removeRootfs("copy1");
      eq(ls(`${root}/containers`), []);
      // Plain-format layers keep the markers on disk; only the copy applies them.
      ok(ls(`${root}/layers/${img.chainIds[1].slice(7)}/etc`).includes(".wh.group"));
    }, { overlay: false }),
});

Deno.test({
  name: "opening the store sweeps what a crash left: temp dirs, stray layers, links and blobs",
  ignore,
  fn: () =>
    withStore(async ({ root, db, store }) => {
      const imgs = await busyboxImages();
      await store.load(imgs.dockerArchive);
      const img = store.get("busybox");
      const keepLayers = ls(`${root}/layers`);
      const keepLinks = ls(`${root}/l`);
      const keepBlobs = ls(`${root}/blobs/sha256`);
      Deno.mkdirSync(`${root}/tmp/load-crashed/archive`, { recursive: true });
      Deno.writeTextFileSync(`${root}/tmp/ingest-crashed`, "partial");
      Deno.mkdirSync(`${root}/layers/${"e".repeat(64)}/bin`, { recursive: true });
      Deno.symlinkSync(`../layers/${"e".repeat(64)}`, `${root}/l/eeeeeeee`);
      Deno.writeTextFileSync(`${root}/blobs/sha256/${"f".repeat(64)}`, "orphan");
      const reopened = new ImageStore({ root, db });
      eq(ls(`${root}/tmp`), []);
      eq(ls(`${root}/layers`), keepLayers);
      eq(ls(`${root}/l`), keepLinks);
      eq(ls(`${root}/blobs/sha256`), keepBlobs);
      eq(reopened.get("busybox").id, img.id);
    }),
});

Deno.test({
  name: "a loaded config's layer count must match the archive's",
  ignore,
  fn: () =>
    withStore(async ({ store, db, root }) => {
      const imgs = await busyboxImages();
      const copy = `${root}/../${root.split("/").pop()}-mismatch`;
      await copyDir(imgs.ociDir, copy);
      try {
        // Drop the layer list from a manifest and point the index at the edited manifest.
        const index = await readJson<
          { manifests: { digest: string; size: number; annotations: Record<string, string> }[] }
        >(`${copy}/index.json`);
        const entry = index.manifests.find((m) =>
          m.annotations["org.opencontainers.image.ref.name"] === "busybox:latest"
        )!;
        const manifest = await readJson<{ layers: unknown[] }>(
          `${copy}/blobs/sha256/${entry.digest.slice(7)}`,
        );
        manifest.layers = [];
        const bytes = new TextEncoder().encode(JSON.stringify(manifest));
        const digest = await crypto.subtle.digest("SHA-256", bytes);
        const hex = Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join(
          "",
        );
        await Deno.writeFile(`${copy}/blobs/sha256/${hex}`, bytes);
        index.manifests = [{ ...entry, digest: `sha256:${hex}`, size: bytes.length }];
        await Deno.writeTextFile(`${copy}/index.json`, JSON.stringify(index));
        await rejects(store.load(copy), /the config lists 1 layers but the archive has 0/);
        eq(rowCount(db), 0);
        eq(ls(`${root}/blobs/sha256`), []);
      } finally {
        await Deno.remove(copy, { recursive: true });
      }
    }),
});

Deno.test({
  name: "a store reopened without overlay copies overlay-format layers, honouring their whiteouts",
  ignore,
  fn: () =>
    withStore(async ({ store, root, db }) => {
      const imgs = await busyboxImages();
      await store.load(imgs.whiteoutArchive);
      const id = store.get("busybox-wh").id;
      const top = `${root}/layers/${store.get(id).chainIds[1].slice(7)}`;
      ok(Deno.lstatSync(`${top}/etc/group`).isCharDevice, "overlay-format whiteout on disk");
      const copying = new ImageStore({ root, db, overlay: false });
      const d = copying.prepareRootfs(id, "flip");
      eq(d.kind, "copy");
      if (d.kind === "copy") checkWhiteoutView(d.path);
      copying.removeRootfs("flip");
      eq(ls(`${root}/containers`), []);
    }),
});

Deno.test({
  name: "a test variant image carries its config and extra files through load",
  ignore,
  fn: () =>
    withStore(async ({ store }) => {
      const archive = await busyboxVariant({
        name: "polis-test/app:1",
        entrypoint: ["/bin/sh", "-c"],
        cmd: ["cat /srv/hello"],
        env: ["MODE=test"],
        workingDir: "/srv",
        user: "65534",
        files: [{ name: "srv/", type: "directory" }, { name: "srv/hello", body: "hi\n" }],
      });
      eq(await store.load(archive), { loaded: ["polis-test/app:1"] });
      const img = store.get("polis-test/app:1");
      eq(resolveProcess(img.config, {}), {
        args: ["/bin/sh", "-c", "cat /srv/hello"],
        env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "MODE=test"],
        cwd: "/srv",
        user: "65534",
      });
      const d = store.prepareRootfs(img.id, "variant");
      try {
        const rootfs = await mountOverlay(d);
        try {
          eq((await sh("chroot", rootfs, "/bin/sh", "-c", "cat /srv/hello")).trim(), "hi");
        } finally {
          await sh("umount", rootfs);
        }
      } finally {
        store.removeRootfs("variant");
      }
    }),
});
