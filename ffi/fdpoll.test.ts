import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import { FdPoller, readNonblocking } from "./fdpoll.ts";
import { close, pipe2, write } from "./fs.ts";

Deno.test("one poller serves more pipes than Deno's blocking pool has threads, to their ends", async () => {
  const poller = new FdPoller();
  const pipes = Array.from({ length: 40 }, () => pipe2());
  const got = pipes.map(() => "");
  const ended = pipes.map(() => Promise.withResolvers<void>());
  const buf = new Uint8Array(16);
  pipes.forEach(([r], i) =>
    poller.add(r, () => {
      for (;;) {
        const n = readNonblocking(r, buf);
        if (n === null) return;
        if (n === 0) {
          poller.remove(r);
          ended[i].resolve();
          return;
        }
        got[i] += new TextDecoder().decode(buf.subarray(0, n));
      }
    })
  );
  assertEquals(poller.size, 40);
  pipes.forEach(([, w], i) => write(w, new TextEncoder().encode(`p${i};`)));
  // A later write to a pipe already seen is read too; then the writer goes: end of file.
  await new Promise((r) => setTimeout(r, 20));
  pipes.forEach(([, w], i) => {
    write(w, new TextEncoder().encode(`again${i}`));
    close(w);
  });
  await Promise.all(ended.map((e) => e.promise));
  assertEquals(got, pipes.map((_, i) => `p${i};again${i}`));
  assertEquals(poller.size, 0);
  await poller.close();
});

Deno.test("close stops a poll in flight and closes what it watched", async () => {
  const poller = new FdPoller();
  const [r, w] = pipe2();
  poller.add(r, () => {});
  await poller.close();
  assertEquals(poller.size, 0);
  // The read end is closed: writing now fails with EPIPE (not a hang, not a read).
  let failed = false;
  try {
    write(w, new Uint8Array([1]));
  } catch {
    failed = true;
  }
  ok(failed);
  close(w);
});
