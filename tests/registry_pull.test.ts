/**
 * Pulls from a real distribution registry (Debian's docker-registry on 127.0.0.1),
 * images pushed into it with skopeo: by tag and by digest, unknown names, a blob
 * tampered in the registry's storage, Basic auth with htpasswd, and interruptions —
 * the registry killed mid-blob and restarted, and a pull cut off then resumed by a
 * fresh store on the same root (a daemon restart) with a Range request.
 */
import { deepStrictEqual as eq, ok, rejects } from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import type { PolisError } from "../src/core/errors.ts";
import { ImageStore } from "../src/image/mod.ts";
import { pullImage, type PullProgress } from "../src/image/registry/mod.ts";
import { busyboxImages, isRoot } from "./helpers/image.ts";
import {
  addBigLayer,
  addMultiPlatformIndex,
  hasRegistry,
  TestRegistry,
  ThrottleProxy,
} from "./helpers/registry.ts";

const ignore = !isRoot || !hasRegistry;
if (ignore) console.log("registry tests need root and /usr/bin/docker-registry: skipped");

const opts = { ignore, sanitizeOps: false, sanitizeResources: false };

interface Env {
  root: string;
  db: DatabaseSync;
  store: ImageStore;
}

async function withStore(fn: (env: Env) => Promise<void>): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "polis-pull-" });
  const db = new DatabaseSync(`${root}/polis.db`);
  db.exec("PRAGMA foreign_keys=ON");
  try {
    await fn({ root, db, store: new ImageStore({ root, db }) });
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

/** Waits until `cond` holds; fails at once if `pending` settles first. */
async function until(cond: () => boolean, pending: Promise<unknown>): Promise<void> {
  let settled = false;
  pending.then(() => (settled = true), () => (settled = true));
  while (!cond()) {
    if (settled) await pending.then(() => ok(false, "settled before the condition held"));
    await new Promise((r) => setTimeout(r, 20));
  }
}

function blobGets(requests: string[]): string[] {
  return requests.filter((r) => r.startsWith("GET ") && r.includes("/blobs/"));
}

Deno.test({
  ...opts,
  name: "pull from a real registry: by tag and digest, up to date, 404s, tampered blob",
  fn: async (t) => {
    const imgs = await busyboxImages();
    const reg = new TestRegistry();
    await reg.start();
    const proxy = new ThrottleProxy(reg.port);
    try {
      await reg.push(`oci:${imgs.ociDir}:busybox:latest`, "test/busybox:latest");
      await reg.push(`oci:${imgs.ociDir}:busybox-cfg:latest`, "test/tamper:1");
      const digest = await reg.digest("test/busybox:latest");
      const host = proxy.host;

      await t.step(
        "by tag: every blob fetched once, the image listed with tag and digest",
        () =>
          withStore(async ({ store, root }) => {
            const events: PullProgress[] = [];
            const r = await pullImage(store, `${host}/test/busybox`, {
              onProgress: (p) => events.push(p),
            });
            eq(r.reference, `${host}/test/busybox:latest`);
            eq(r.digest, digest);
            eq(r.downloaded, true);
            const img = store.get(`${host}/test/busybox:latest`);
            eq(img.id, r.id);
            eq(img.repoTags, [`${host}/test/busybox:latest`]);
            eq(img.repoDigests, [`${host}/test/busybox@${digest}`]);
            ok(events.some((e) => e.status === "Download complete"));
            ok(
              events.some((e) => e.status === `Status: Downloaded newer image for ${r.reference}`),
            );
            eq(ls(`${root}/downloads`), [], "no partials or holds left");

            // Again: nothing but the manifest is fetched.
            proxy.requests.length = 0;
            const again: PullProgress[] = [];
            const r2 = await pullImage(store, `${host}/test/busybox:latest`, {
              onProgress: (p) => again.push(p),
            });
            eq(r2.downloaded, false);
            eq(blobGets(proxy.requests), [], "no blob fetched again");
            ok(again.some((e) => e.status === "Already exists"));
          }),
      );

      await t.step("by digest: named repo@digest only", () =>
        withStore(async ({ store }) => {
          const r = await pullImage(store, `${host}/test/busybox@${digest}`);
          eq(r.digest, digest);
          const img = store.get(`${host}/test/busybox@${digest}`);
          eq(img.repoTags, []);
          eq(img.repoDigests, [`${host}/test/busybox@${digest}`]);
        }));

      await t.step(
        "unknown repository or tag: not_found, nothing stored",
        () =>
          withStore(async ({ store, root }) => {
            for (const ref of [`${host}/test/nope:latest`, `${host}/test/busybox:nope`]) {
              await rejects(pullImage(store, ref), (e: PolisError) => {
                eq(e.code, "not_found");
                ok(/manifest for .* not found/.test(e.message), e.message);
                return true;
              });
            }
            eq(store.list(), []);
            eq(ls(`${root}/blobs/sha256`), []);
            eq(ls(`${root}/downloads`), []);
          }),
      );

      await t.step(
        "a blob tampered in the registry's storage: refused, nothing stored",
        () =>
          withStore(async ({ store, root }) => {
            const manifest = JSON.parse(
              await (await fetch(`http://${reg.host}/v2/test/tamper/manifests/1`, {
                headers: { accept: "application/vnd.oci.image.manifest.v1+json" },
              })).text(),
            );
            const layer = manifest.layers[0].digest as string;
            const path = reg.blobPath(layer);
            const bytes = Deno.readFileSync(path);
            const saved = bytes[bytes.length - 100];
            bytes[bytes.length - 100] ^= 0xff;
            Deno.writeFileSync(path, bytes);
            try {
              await rejects(pullImage(store, `${host}/test/tamper:1`), (e: PolisError) => {
                eq(e.code, "invalid_argument");
                ok(e.message.includes("does not match its digest"), e.message);
                return true;
              });
              eq(store.list(), []);
              eq(ls(`${root}/blobs/sha256`), [], "config and manifest dropped too");
              eq(ls(`${root}/downloads`), []);
              eq(ls(`${root}/layers`), []);
            } finally {
              bytes[bytes.length - 100] = saved;
              Deno.writeFileSync(path, bytes);
            }
          }),
      );
    } finally {
      await proxy.close();
      await reg.stop();
    }
  },
});

Deno.test({
  ...opts,
  name: "Basic auth (htpasswd): right credentials pull, wrong or none are a clear 401",
  fn: async () => {
    const imgs = await busyboxImages();
    const user = { username: "polis", password: "s3cret" };
    const reg = new TestRegistry({ user });
    await reg.start();
    try {
      await reg.push(`oci:${imgs.ociDir}:busybox:latest`, "private/busybox:latest");
      await withStore(async ({ store, root }) => {
        for (const credentials of [undefined, { username: "polis", password: "wrong" }]) {
          await rejects(
            pullImage(store, `${reg.host}/private/busybox`, { credentials }),
            (e: PolisError) => {
              eq(e.code, "invalid_argument");
              ok(/unauthorized/.test(e.message), e.message);
              return true;
            },
          );
        }
        eq(ls(`${root}/blobs/sha256`), []);
        const r = await pullImage(store, `${reg.host}/private/busybox`, { credentials: user });
        eq(store.get(`${reg.host}/private/busybox`).id, r.id);
      });
    } finally {
      await reg.stop();
    }
  },
});

const BIG = 24 * 1024 * 1024;

Deno.test({
  ...opts,
  name: "registry killed mid-blob and restarted: the pull resumes with a Range request",
  fn: async () => {
    const imgs = await busyboxImages();
    await addBigLayer(imgs.ociDir, "big-resume", BIG);
    const reg = new TestRegistry();
    await reg.start();
    const proxy = new ThrottleProxy(reg.port);
    try {
      await reg.push(`oci:${imgs.ociDir}:big-resume`, "test/big:1");
      await withStore(async ({ store }) => {
        proxy.bytesPerSecond = 12 * 1024 * 1024;
        proxy.bytes = 0;
        const pulling = pullImage(store, `${proxy.host}/test/big:1`, { backoffMs: 200 });
        await until(() => proxy.bytes > BIG / 3, pulling);
        await reg.kill();
        proxy.dropAll();
        await new Promise((r) => setTimeout(r, 1000));
        await reg.start();
        proxy.bytesPerSecond = Infinity;
        const r = await pulling;
        ok(store.get(`${proxy.host}/test/big:1`).id === r.id);
        ok(
          proxy.requests.some((q) => /\/blobs\/.* bytes=\d+-$/.test(q)),
          `a Range request: ${proxy.requests.join("\n")}`,
        );
        ok(proxy.bytes < BIG * 1.5, `fetched ${proxy.bytes} bytes for a ${BIG}-byte layer`);
      });
    } finally {
      await proxy.close();
      await reg.stop();
    }
  },
});

Deno.test({
  ...opts,
  name: "a pull cut off for good leaves no image; a fresh store on the root resumes it",
  fn: async () => {
    const imgs = await busyboxImages();
    await addBigLayer(imgs.ociDir, "big-restart", BIG);
    const reg = new TestRegistry();
    await reg.start();
    const proxy = new ThrottleProxy(reg.port);
    try {
      await reg.push(`oci:${imgs.ociDir}:big-restart`, "test/big:2");
      await withStore(async ({ store, root, db }) => {
        proxy.bytesPerSecond = 12 * 1024 * 1024;
        const ref = `${proxy.host}/test/big:2`;
        const pulling = pullImage(store, ref, { retries: 0, client: { retries: 0 } });
        await until(() => proxy.bytes > BIG / 2, pulling);
        await reg.kill();
        proxy.dropAll();
        await rejects(pulling, (e: PolisError) => e.code === "unavailable");
        eq(store.list(), []);
        ok(ls(`${root}/downloads`).some((n) => n.endsWith(".partial")), "the partial is kept");

        // A restart: the store opens again on the same root and sweeps.
        const reopened = new ImageStore({ root, db });
        ok(ls(`${root}/downloads`).some((n) => n.endsWith(".partial")), "kept by the sweep");
        const finished = ls(`${root}/blobs/sha256`).length;
        ok(finished >= 2, `config and finished layers survive the sweep (${finished})`);

        await reg.start();
        proxy.bytesPerSecond = Infinity;
        proxy.requests.length = 0;
        proxy.bytes = 0;
        const r = await pullImage(reopened, ref);
        eq(reopened.get(ref).id, r.id);
        const gets = blobGets(proxy.requests);
        eq(gets.length, 1, `only the unfinished layer is fetched: ${gets.join(", ")}`);
        ok(/ bytes=\d+-$/.test(gets[0]), gets[0]);
        ok(proxy.bytes < BIG * 0.75, `resumed: ${proxy.bytes} bytes`);
        eq(ls(`${root}/downloads`), []);
      });
    } finally {
      await proxy.close();
      await reg.stop();
    }
  },
});

Deno.test({
  ...opts,
  name: "a multi-platform index: the host's image by default, --platform picks another",
  fn: async () => {
    const imgs = await busyboxImages();
    await addMultiPlatformIndex(imgs.ociDir, "multi");
    const reg = new TestRegistry();
    await reg.start();
    try {
      await reg.push(`oci:${imgs.ociDir}:multi`, "test/multi:1", true);
      const indexDigest = await reg.digest("test/multi:1");
      const ref = `${reg.host}/test/multi:1`;
      const host = Deno.build.arch === "aarch64" ? "arm64" : "amd64";
      await withStore(async ({ store }) => {
        const r = await pullImage(store, ref);
        eq(r.digest, indexDigest, "named by the index's digest, as docker does");
        const img = store.get(ref);
        eq(img.architecture, host);
        eq(img.config.Cmd, ["echo", host]);
        eq(img.repoDigests, [`${reg.host}/test/multi@${indexDigest}`]);
      });
      for (
        const [platform, arch, cmd] of [["linux/arm64", "arm64", "arm64"], [
          "linux/arm/v7",
          "arm",
          "armv7",
        ]]
      ) {
        await withStore(async ({ store }) => {
          await pullImage(store, ref, { platform });
          const img = store.get(ref);
          eq(img.architecture, arch);
          eq(img.config.Cmd, ["echo", cmd]);
        });
      }
      await withStore(async ({ store }) => {
        await rejects(pullImage(store, ref, { platform: "linux/s390x" }), (e: PolisError) => {
          eq(e.code, "not_found");
          ok(e.message.includes("no matching manifest for linux/s390x"), e.message);
          ok(e.message.includes("linux/arm64/v8"), e.message);
          return true;
        });
        await rejects(pullImage(store, ref, { platform: "linux//" }), /invalid platform/);
      });
    } finally {
      await reg.stop();
    }
  },
});
