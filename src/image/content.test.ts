import { deepStrictEqual as eq, rejects } from "node:assert/strict";
import { BlobStore, sha256Hex } from "./content.ts";

function stream(s: string): ReadableStream<Uint8Array> {
  return new Blob([s]).stream();
}

async function withStore(fn: (store: BlobStore, root: string) => Promise<void>): Promise<void> {
  const root = Deno.makeTempDirSync({ prefix: "polis-blobs-" });
  try {
    await fn(new BlobStore(root), root);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
}

Deno.test("ingest stores a blob under its sha256 once, read back by the reader role", async () => {
  await withStore(async (store) => {
    const digest = `sha256:${sha256Hex("hello")}`;
    eq(await store.ingest(stream("hello"), { expected: digest, size: 5 }), {
      digest,
      size: 5,
      created: true,
    });
    eq((await store.ingest(stream("hello"))).created, false);
    eq(store.stat(digest), { digest, size: 5 });
    eq(new TextDecoder().decode(store.readBytes(digest)), "hello");
    let text = "";
    for await (const c of await store.open(digest)) text += new TextDecoder().decode(c);
    eq(text, "hello");
    eq(store.list(), [{ digest, size: 5 }]);
    eq(Deno.statSync(store.path(digest)).mode! & 0o777, 0o444);
  });
});

Deno.test("ingest refuses content that does not match its digest or size, keeping nothing", async () => {
  await withStore(async (store, root) => {
    const wrong = `sha256:${sha256Hex("other")}`;
    await rejects(
      store.ingest(stream("hello"), { expected: wrong, label: "layer" }),
      {
        message: `layer ${wrong}: content does not match its digest (got sha256:${
          sha256Hex("hello")
        })`,
      },
    );
    await rejects(store.ingest(stream("hello"), { size: 4 }), /size 5 differs from the expected 4/);
    await rejects(
      store.ingest(stream("x"), { expected: "md5:abc" }),
      /unsupported or malformed digest/,
    );
    await rejects(store.open(wrong), { code: "not_found" });
    eq(store.list(), []);
    eq([...Deno.readDirSync(`${root}/tmp`)], []);
  });
});

Deno.test("ingestTempFile moves a verified temp file into place and consumes a bad one", async () => {
  await withStore(async (store, root) => {
    Deno.writeTextFileSync(`${root}/tmp/a`, "abc");
    const res = await store.ingestTempFile(`${root}/tmp/a`, {
      expected: `sha256:${sha256Hex("abc")}`,
    });
    eq(res.created, true);
    Deno.writeTextFileSync(`${root}/tmp/b`, "abc!");
    await rejects(
      store.ingestTempFile(`${root}/tmp/b`, { expected: `sha256:${sha256Hex("abc")}` }),
      /content does not match/,
    );
    eq([...Deno.readDirSync(`${root}/tmp`)], []);
    eq(store.list().length, 1);
  });
});
