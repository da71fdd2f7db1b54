/**
 * Layers unpack while they download: through a throttling proxy, the API's progress
 * stream shows a layer extracting before its download completed; a blob tampered in the
 * registry (extraction already under way on its bad bytes) leaves no layer dir, temp
 * dir or blob; after `kill -9` of the daemon mid-pull, the layer unpacked before the
 * kill is kept and reused (the same directory) by the next pull, which resumes the rest;
 * and a layer blob already in the store is unpacked from there without a fetch.
 */
import { deepStrictEqual as eq, ok, rejects } from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import type { PolisError } from "../src/core/errors.ts";
import { ImageStore } from "../src/image/mod.ts";
import { pullImage, type PullProgress } from "../src/image/registry/mod.ts";
import { TestDaemon } from "./helpers/daemon.ts";
import { busyboxImages, isRoot } from "./helpers/image.ts";
import { addBigLayer, hasRegistry, TestRegistry, ThrottleProxy } from "./helpers/registry.ts";

const ignore = !isRoot || !hasRegistry;
if (ignore) console.log("registry tests need root and /usr/bin/docker-registry: skipped");
const opts = { ignore, sanitizeOps: false, sanitizeResources: false };

const BIG = 24 * 1024 * 1024;

function ls(dir: string): string[] {
  try {
    return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
  } catch {
    return [];
  }
}

/** POSTs a pull to the daemon's API and returns every NDJSON message, in order. */
async function apiPull(d: TestDaemon, reference: string): Promise<PullProgress[]> {
  const client = Deno.createHttpClient({ proxy: { transport: "unix", path: d.socket } });
  try {
    const res = await fetch("http://127.0.0.1/v1/images/pull", {
      method: "POST",
      client,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ reference }),
    });
    ok(res.ok, `pull answered ${res.status}`);
    const text = await res.text();
    return text.split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l));
  } finally {
    client.close();
  }
}

/** Layer digests of a manifest in the registry. */
async function layerDigests(reg: TestRegistry, repo: string, tag: string): Promise<string[]> {
  const res = await fetch(`http://${reg.host}/v2/${repo}/manifests/${tag}`, {
    headers: { accept: "application/vnd.oci.image.manifest.v1+json" },
  });
  const m = await res.json() as { layers: { digest: string }[] };
  return m.layers.map((l) => l.digest);
}

Deno.test({
  ...opts,
  name: "the API's progress shows a layer extracting before its download completed",
  fn: async () => {
    const imgs = await busyboxImages();
    await addBigLayer(imgs.ociDir, "big-stream", BIG);
    const reg = new TestRegistry();
    await reg.start();
    const proxy = new ThrottleProxy(reg.port);
    const d = new TestDaemon("pull-stream");
    try {
      await reg.push(`oci:${imgs.ociDir}:big-stream`, "test/big:stream");
      const big = (await layerDigests(reg, "test/big", "stream")).at(-1)!;
      const id = big.slice("sha256:".length, "sha256:".length + 12);
      await d.start();
      proxy.bytesPerSecond = 8 * 1024 * 1024;
      const events = await apiPull(d, `${proxy.host}/test/big:stream`);
      const mine = events.filter((e) => e.id === id).map((e) => e.status);
      const extracting = mine.findIndex((s) => s === "Extracting");
      const downloaded = mine.indexOf("Download complete");
      ok(extracting >= 0 && downloaded > extracting, `statuses of ${id}: ${mine.join(", ")}`);
      ok(
        events.some((e) =>
          e.id === id && e.status === "Extracting" && e.current! > 0 && e.current! < e.total!
        ),
        "an Extracting line with bytes consumed part way",
      );
      eq(mine.at(-1), "Pull complete");
      eq(events.at(-1)?.status, "done");
      eq(
        await d.ok([
          "run",
          "--rm",
          `${proxy.host}/test/big:stream`,
          "stat",
          "-c",
          "%s",
          "/data/blob.bin",
        ]),
        `${BIG}\n`,
      );
    } catch (e) {
      console.error(d.daemonLog().slice(-4000));
      throw e;
    } finally {
      await d.cleanup();
      await proxy.close();
      await reg.stop();
    }
  },
});

Deno.test({
  ...opts,
  name: "a tampered blob whose extraction had started leaves no layer dir, temp dir or blob",
  fn: async () => {
    const imgs = await busyboxImages();
    await addBigLayer(imgs.ociDir, "big-tamper", BIG);
    const reg = new TestRegistry();
    await reg.start();
    const proxy = new ThrottleProxy(reg.port);
    const root = await Deno.makeTempDir({ prefix: "polis-pull-" });
    const db = new DatabaseSync(`${root}/polis.db`);
    try {
      await reg.push(`oci:${imgs.ociDir}:big-tamper`, "test/big:tamper");
      const big = (await layerDigests(reg, "test/big", "tamper")).at(-1)!;
      const id = big.slice("sha256:".length, "sha256:".length + 12);
      const path = reg.blobPath(big);
      const bytes = Deno.readFileSync(path);
      bytes[bytes.length - 4096] ^= 0xff;
      Deno.writeFileSync(path, bytes);

      const store = new ImageStore({ root, db });
      proxy.bytesPerSecond = 12 * 1024 * 1024;
      const events: PullProgress[] = [];
      await rejects(
        pullImage(store, `${proxy.host}/test/big:tamper`, { onProgress: (p) => events.push(p) }),
        (e: PolisError) => {
          eq(e.code, "invalid_argument");
          ok(e.message.includes("does not match its digest"), e.message);
          return true;
        },
      );
      ok(
        events.some((e) => e.id === id && e.status === "Extracting" && e.current! > 0),
        "extraction had begun on the bad bytes",
      );
      eq(store.list(), []);
      eq(ls(`${root}/layers`), [], "no layer dir, not even busybox's");
      eq(ls(`${root}/l`), []);
      eq(ls(`${root}/tmp`), [], "no unpack temp dir");
      eq(ls(`${root}/blobs/sha256`), []);
      eq(ls(`${root}/downloads`), []);
    } finally {
      db.close();
      await Deno.remove(root, { recursive: true });
      await proxy.close();
      await reg.stop();
    }
  },
});

Deno.test({
  ...opts,
  name: "kill -9 mid-pull keeps the layers already unpacked; the next pull reuses them",
  fn: async () => {
    const imgs = await busyboxImages();
    await addBigLayer(imgs.ociDir, "big-kill2", BIG);
    const reg = new TestRegistry();
    await reg.start();
    const proxy = new ThrottleProxy(reg.port);
    const d = new TestDaemon("pull-kill-unpacked");
    try {
      await reg.push(`oci:${imgs.ociDir}:big-kill2`, "test/big:kill2");
      const ref = `${proxy.host}/test/big:kill2`;
      await d.start();
      proxy.bytesPerSecond = 8 * 1024 * 1024;
      const pulling = d.cli(["pull", ref]);
      const deadline = Date.now() + 30_000;
      // busybox's layer is small: it is unpacked long before the big one is half way.
      while (
        (proxy.bytes < BIG / 2 || ls(`${d.root}/layers`).length === 0) && Date.now() < deadline
      ) {
        await new Promise((r) => setTimeout(r, 20));
      }
      const before = ls(`${d.root}/layers`);
      eq(before.length, 1, `one layer unpacked before the kill: ${before.join(",")}`);
      const inode = Deno.statSync(`${d.root}/layers/${before[0]}`).ino;
      await d.stop("SIGKILL");
      proxy.dropAll();
      ok((await pulling).code !== 0, "the CLI saw the daemon go");

      await d.start();
      const listed = await d.ok(["images", "--format", "{{.Repository}}:{{.Tag}}"]);
      ok(!listed.includes("test/big"), `no half image: ${listed}`);
      eq(ls(`${d.root}/layers`), before, "the unpacked layer survives the restart");

      proxy.bytesPerSecond = Infinity;
      proxy.requests.length = 0;
      proxy.bytes = 0;
      await d.ok(["pull", ref]);
      const gets = proxy.requests.filter((q) => q.startsWith("GET ") && q.includes("/blobs/"));
      eq(gets.length, 1, `only the unfinished layer again: ${gets.join(", ")}`);
      ok(/ bytes=\d+-$/.test(gets[0]), gets[0]);
      eq(ls(`${d.root}/layers`).length, 2);
      eq(Deno.statSync(`${d.root}/layers/${before[0]}`).ino, inode, "not unpacked again");
      eq(await d.ok(["run", "--rm", ref, "stat", "-c", "%s", "/data/blob.bin"]), `${BIG}\n`);
    } catch (e) {
      console.error(d.daemonLog().slice(-4000));
      throw e;
    } finally {
      await d.cleanup();
      await proxy.close();
      await reg.stop();
    }
  },
});

Deno.test({
  ...opts,
  name: "a layer blob already in the store is unpacked from there, not fetched again",
  fn: async () => {
    const imgs = await busyboxImages();
    const reg = new TestRegistry();
    await reg.start();
    const proxy = new ThrottleProxy(reg.port);
    const root = await Deno.makeTempDir({ prefix: "polis-pull-" });
    const db = new DatabaseSync(`${root}/polis.db`);
    try {
      await reg.push(`oci:${imgs.ociDir}:busybox:latest`, "test/busybox:present");
      const [layer] = await layerDigests(reg, "test/busybox", "present");
      const store = new ImageStore({ root, db });
      // What an earlier pull that got the blob but not its layer dir leaves.
      const res = await fetch(`http://${reg.host}/v2/test/busybox/blobs/${layer}`);
      await store.ingester.ingest(res.body!, { expected: layer });
      eq(ls(`${root}/layers`), []);

      const events: PullProgress[] = [];
      await pullImage(store, `${proxy.host}/test/busybox:present`, {
        onProgress: (p) => events.push(p),
      });
      const gets = proxy.requests.filter((q) => q.startsWith("GET ") && q.includes("/blobs/"));
      ok(!gets.some((q) => q.includes(layer)), `the layer is not fetched: ${gets.join(", ")}`);
      const id = layer.slice("sha256:".length, "sha256:".length + 12);
      const mine = events.filter((e) => e.id === id).map((e) => e.status);
      ok(mine.includes("Extracting") && mine.at(-1) === "Pull complete", mine.join(", "));
      ok(!mine.includes("Downloading"), mine.join(", "));
      eq(ls(`${root}/layers`).length, 1);
      eq(store.get(`${proxy.host}/test/busybox:present`).chainIds.length, 1);
    } finally {
      db.close();
      await Deno.remove(root, { recursive: true });
      await proxy.close();
      await reg.stop();
    }
  },
});
