import { deepStrictEqual as eq, ok, rejects } from "node:assert/strict";
import { createHash } from "node:crypto";
import { gzipSync } from "node:zlib";
import tar from "tar-stream";
import { openLayer } from "./layerread.ts";
import { decompressed, readTar } from "./tar.ts";

function streamOf(bytes: Uint8Array, chunk = 1000): ReadableStream<Uint8Array> {
  let off = 0;
  return new ReadableStream({
    pull(c) {
      if (off >= bytes.length) return c.close();
      c.enqueue(bytes.slice(off, off + chunk));
      off += chunk;
    },
  });
}

/** Entries as comparable records: header fields and the body's sha256. */
async function viaNew(bytes: Uint8Array): Promise<{ entries: unknown[]; digest: string }> {
  const t = await openLayer(streamOf(bytes), "test", (s) => decompressed(s, "test"));
  const entries: unknown[] = [];
  for await (const e of t.entries()) {
    const h = createHash("sha256");
    for await (const c of e.body) h.update(c);
    entries.push(record(e.header, h.digest("hex")));
  }
  return { entries, digest: t.digest() };
}

async function viaTarStream(bytes: Uint8Array): Promise<{ entries: unknown[]; digest: string }> {
  const all = createHash("sha256");
  const entries: unknown[] = [];
  const tarStream = await decompressed(streamOf(bytes), "test");
  for await (const e of readTar(tarStream, (c) => all.update(c))) {
    const h = createHash("sha256");
    for await (const c of e.body) h.update(c);
    entries.push(record(e.header, h.digest("hex")));
  }
  return { entries, digest: `sha256:${all.digest("hex")}` };
}

function record(h: tar.Header, body: string): unknown {
  return {
    name: h.name,
    type: h.type,
    mode: h.mode,
    uid: h.uid,
    gid: h.gid,
    size: h.size,
    mtime: h.mtime?.getTime(),
    linkname: h.linkname,
    devmajor: h.devmajor,
    devminor: h.devminor,
    pax: h.pax,
    body,
  };
}

async function packed(): Promise<Uint8Array> {
  const pack = tar.pack();
  const long = `${"d".repeat(60)}/${"e".repeat(60)}/${"f".repeat(90)}.txt`;
  pack.entry({ name: "dir", type: "directory", mode: 0o755, mtime: new Date(1e9) });
  pack.entry({ name: "dir/a.txt", mode: 0o4755, uid: 1000, gid: 1000 }, "hello\n".repeat(30000));
  pack.entry({ name: long, mtime: new Date(2e9) }, "long name");
  pack.entry({ name: "dir/link", type: "symlink", linkname: "a.txt" });
  pack.entry({ name: "dir/hard", type: "link", linkname: "dir/a.txt" });
  pack.entry({ name: "dir/x", pax: { "SCHILY.xattr.user.k": "v" } }, "x");
  pack.entry({ name: "dev", type: "character-device", devmajor: 1, devminor: 3 });
  pack.entry({ name: "empty", size: 0 }, "");
  pack.finalize();
  const chunks: Uint8Array[] = [];
  for await (const c of pack as AsyncIterable<Uint8Array>) chunks.push(c);
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

Deno.test("the buffer-reusing tar reader reads what tar-stream reads, plain and gzip'd", async () => {
  const plain = await packed();
  const want = await viaTarStream(plain);
  ok((want.entries as unknown[]).length === 8);
  eq(await viaNew(plain), want);
  const gz = new Uint8Array(gzipSync(plain));
  eq(await viaNew(gz), want);
  // Trailing bytes after the archive (padding some tools add) count in the diff id.
  const padded = new Uint8Array(plain.length + 4096);
  padded.set(plain);
  eq(await viaNew(padded), await viaTarStream(padded));
});

Deno.test("GNU long names and ustar prefixes, as GNU tar writes them", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    const deep = `${"p".repeat(80)}/${"q".repeat(70)}`;
    Deno.mkdirSync(`${dir}/src/${deep}`, { recursive: true });
    Deno.writeTextFileSync(`${dir}/src/${deep}/file`, "deep");
    for (const format of ["gnu", "ustar", "pax"]) {
      const out = await new Deno.Command("tar", {
        args: ["-C", `${dir}/src`, `--format=${format}`, "-cf", "-", "."],
        stdout: "piped",
      }).output();
      ok(out.success);
      const got = await viaNew(out.stdout);
      eq(got, await viaTarStream(out.stdout), format);
      ok(
        (got.entries as { name: string }[]).some((e) => e.name === `./${deep}/file`),
        format,
      );
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("a truncated gzip layer or tar fails; a corrupt header is refused", async () => {
  const plain = await packed();
  const gz = new Uint8Array(gzipSync(plain));
  await rejects(viaNew(gz.subarray(0, gz.length - 100)), /unexpected end of file/);
  await rejects(viaNew(plain.subarray(0, 1000)), /malformed tar: unexpected end of data/);
  const bad = plain.slice();
  bad[10] ^= 0x55;
  await rejects(viaNew(bad), /malformed tar: Invalid tar header/);
});
