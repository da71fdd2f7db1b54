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
