import { deepStrictEqual as eq, rejects } from "node:assert/strict";
import { followBlob, Growth } from "./follow.ts";

async function collect(stream: ReadableStream<Uint8Array>): Promise<number[]> {
  const out: number[] = [];
  for await (const c of stream) out.push(...c);
  return out;
}

Deno.test("followBlob reads a file as it grows, past truncations, then from its final name", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    const partial = `${dir}/x.partial`;
    const final = `${dir}/x`;
    const g = new Growth();
    const reading = collect(followBlob([partial, final], g, { chunkSize: 2 }));
    const f = Deno.openSync(partial, { write: true, create: true });
    f.writeSync(new Uint8Array([1, 2, 3]));
    g.wrote(3);
    await new Promise((r) => setTimeout(r, 10));
    // A source that ignored the Range: the file starts over with the same bytes.
    f.truncateSync(0);
    g.wrote(0);
    f.seekSync(0, Deno.SeekMode.Start);
    f.writeSync(new Uint8Array([1, 2, 3, 4, 5]));
    g.wrote(5);
    f.writeSync(new Uint8Array([6])); // written but not yet reported: read only after end()
    f.close();
    Deno.renameSync(partial, final);
    g.end();
    eq(await reading, [1, 2, 3, 4, 5, 6]);

    // A download already finished before the follower opened: the final file is read.
    const done = new Growth();
    done.end();
    eq(await collect(followBlob([partial, final], done)), [1, 2, 3, 4, 5, 6]);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("followBlob fails with the download's failure", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    const g = new Growth();
    Deno.writeFileSync(`${dir}/p`, new Uint8Array([1, 2]));
    g.wrote(2);
    const reading = collect(followBlob([`${dir}/p`], g));
    await new Promise((r) => setTimeout(r, 10));
    g.fail(new Error("digest mismatch"));
    await rejects(reading, /digest mismatch/);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("followBlob fills a reader's own buffer (BYOB), so following allocates nothing per chunk", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    const data = new Uint8Array(200_000).map((_, i) => i % 251);
    Deno.writeFileSync(`${dir}/b`, data);
    const g = new Growth();
    g.end();
    const reader = followBlob([`${dir}/b`], g).getReader({ mode: "byob" });
    let buf = new Uint8Array(4096);
    const sizes = new Set<number>();
    const got: number[] = [];
    for (;;) {
      const r = await reader.read(buf);
      if (r.done) break;
      got.push(...r.value);
      buf = new Uint8Array(r.value.buffer);
      sizes.add(r.value.buffer.byteLength);
    }
    eq(got.length, data.length);
    eq(new Uint8Array(got), data);
    eq([...sizes], [4096], "every chunk is the reader's own 4 KiB buffer, moved back and forth");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
