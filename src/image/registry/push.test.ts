import { deepStrictEqual as eq, ok } from "node:assert/strict";
import { sha256Hex } from "../content.ts";
import type { ExportParts } from "../store.ts";
import { mountSources, pushImage } from "./push.ts";

/**
 * A registry that speaks just enough of the upload protocol, checks every Content-Range
 * against what it holds, and can cut one PATCH after half its bytes (then answers 500).
 */
function fakeRegistry(opts: { cutPatch?: number; mountable?: Set<string> }) {
  const uploads = new Map<string, Uint8Array[]>();
  const blobs = new Map<string, Uint8Array>();
  const log: string[] = [];
  let patches = 0;
  const size = (id: string) => uploads.get(id)!.reduce((n, c) => n + c.byteLength, 0);
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const url = new URL(req.url);
    const cr = req.headers.get("content-range");
    log.push(`${req.method} ${url.pathname}${url.search}${cr ? ` ${cr}` : ""}`);
    const blob = /^\/v2\/(.+)\/blobs\/(sha256:[0-9a-f]{64})$/.exec(url.pathname);
    if (blob && req.method === "HEAD") {
      return new Response(null, { status: blobs.has(blob[2]) ? 200 : 404 });
    }
    if (/\/blobs\/uploads\/$/.test(url.pathname) && req.method === "POST") {
      const mount = url.searchParams.get("mount");
      if (mount && opts.mountable?.has(mount)) return new Response(null, { status: 201 });
      const id = crypto.randomUUID();
      uploads.set(id, []);
      return new Response(null, { status: 202, headers: { location: `/upload/${id}` } });
    }
    const up = /^\/upload\/(.+)$/.exec(url.pathname);
    if (up && uploads.has(up[1])) {
      const id = up[1];
      const range = () => ({ location: `/upload/${id}`, range: `0-${Math.max(0, size(id) - 1)}` });
      if (req.method === "GET") return new Response(null, { status: 204, headers: range() });
      if (req.method === "PATCH") {
        const start = Number(/^(\d+)-/.exec(req.headers.get("content-range") ?? "")?.[1]);
        if (start !== size(id)) return new Response(null, { status: 416, headers: range() });
        const body = new Uint8Array(await req.arrayBuffer());
        if (++patches === opts.cutPatch) {
          uploads.get(id)!.push(body.subarray(0, body.byteLength >> 1));
          return new Response("cut", { status: 500 });
        }
        uploads.get(id)!.push(body);
        return new Response(null, { status: 202, headers: range() });
      }
      if (req.method === "PUT") {
        const body = new Uint8Array(await req.arrayBuffer());
        if (body.byteLength) uploads.get(id)!.push(body);
        const all = new Uint8Array(size(id));
        let off = 0;
        for (const c of uploads.get(id)!) all.set(c, (off += c.byteLength) - c.byteLength);
        const digest = `sha256:${sha256Hex(all)}`;
        if (digest !== url.searchParams.get("digest")) return new Response("bad", { status: 400 });
        blobs.set(digest, all);
        return new Response(null, { status: 201 });
      }
    }
    if (/\/manifests\//.test(url.pathname) && req.method === "PUT") {
      await req.body?.cancel();
      return new Response(null, { status: 201 });
    }
    return new Response("?", { status: 404 });
  });
  return { server, blobs, log, host: `127.0.0.1:${server.addr.port}` };
}

async function image(dir: string, layerSize: number): Promise<ExportParts> {
  const layer = new Uint8Array(layerSize);
  for (let i = 0; i < layerSize; i += 65536) {
    crypto.getRandomValues(layer.subarray(i, Math.min(layerSize, i + 65536)));
  }
  const config = new TextEncoder().encode('{"architecture":"amd64","os":"linux"}');
  const blob = async (bytes: Uint8Array, mediaType: string) => {
    const digest = `sha256:${sha256Hex(bytes)}`;
    await Deno.writeFile(`${dir}/${digest.slice(7)}`, bytes);
    return { digest, mediaType, size: bytes.byteLength, path: `${dir}/${digest.slice(7)}` };
  };
  const cfg = await blob(config, "application/vnd.oci.image.config.v1+json");
  return {
    record: {
      id: cfg.digest,
      repoTags: [],
      repoDigests: [],
      created: "",
      architecture: "amd64",
      os: "linux",
      config: {},
      diffIds: [],
      chainIds: [],
      size: 0,
    },
    config: cfg,
    layers: [await blob(layer, "application/vnd.oci.image.layer.v1.tar+gzip")],
  };
}

Deno.test("a chunked upload cut mid-chunk resumes where the registry says it is", async () => {
  const dir = await Deno.makeTempDir();
  const reg = fakeRegistry({ cutPatch: 2 });
  try {
    const img = await image(dir, 100_000);
    const seen: { status: string; current?: number }[] = [];
    await pushImage(img, `${reg.host}/a/b:1`, {
      chunkSize: 30_000,
      client: { backoffMs: 1 },
      onProgress: (p) => seen.push(p),
    });
    const layer = img.layers[0];
    eq(reg.blobs.get(layer.digest), await Deno.readFile(layer.path));
    // The second chunk is cut after 15,000 bytes: the next starts where the registry is.
    const ranges = reg.log.filter((l) => l.startsWith("PATCH")).map((l) => l.split(" ")[2]);
    eq(ranges, ["0-29999", "30000-59999", "45000-74999", "75000-99999"]);
    ok(reg.log.some((l) => l.startsWith("GET /upload/")), reg.log.join("\n"));
    ok(seen.some((p) => p.status === "Pushing" && p.current === 100_000));
  } finally {
    await reg.server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("blobs are mounted from the source repository; a refused mount uploads", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const img = await image(dir, 1000);
    const reg = fakeRegistry({ mountable: new Set([img.layers[0].digest]) });
    try {
      img.record.repoDigests = [
        `${reg.host}/src/repo@sha256:${"1".repeat(64)}`,
        `elsewhere.example/src/repo@sha256:${"1".repeat(64)}`,
        `${reg.host}/a/b@sha256:${"1".repeat(64)}`,
      ];
      eq(mountSources(img, reg.host, "a/b"), ["src/repo"]);
      const statuses: string[] = [];
      await pushImage(img, `${reg.host}/a/b:1`, {
        onProgress: (p) => p.id && p.status !== "Pushing" && statuses.push(p.status),
      });
      ok(statuses.includes("Mounted from src/repo"), statuses.join());
      ok(statuses.includes("Pushed"), statuses.join()); // the config: the mount's session
      eq(reg.log.filter((l) => l.startsWith("POST")).length, 2, reg.log.join("\n"));
      ok(reg.blobs.has(img.config.digest));
    } finally {
      await reg.server.shutdown();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
