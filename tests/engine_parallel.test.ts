/**
 * Many containers at once: starts in parallel all succeed and all exit cleanly.
 */

import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { daemonTest } from "./helpers/fixture.ts";

daemonTest("20 containers started in parallel all succeed", async (d) => {
  const runs = Array.from(
    { length: 20 },
    (_, i) => d.cli(["run", "--rm", "--name", `par${i}`, "busybox", "sh", "-c", `echo n${i}`]),
  );
  const results = await Promise.all(runs);
  for (const [i, r] of results.entries()) {
    assertEquals({ i, code: r.code, out: r.stdout, err: r.stderr }, {
      i,
      code: 0,
      out: `n${i}\n`,
      err: "",
    });
  }
});

daemonTest(
  "with more running containers than Deno has pool threads, every log is kept",
  async (d) => {
    // Two log FIFOs per container: 24 containers are 48 FIFOs, more than the 32 threads of
    // Deno's blocking pool, which a blocking read per FIFO used to hold (then later logs were
    // never read and every async file op of the daemon waited).
    const names = Array.from({ length: 24 }, (_, i) => `many${i}`);
    try {
      for (const n of names) {
        await d.ok(["run", "-d", "--name", n, "busybox", "sh", "-c", `echo hi-${n}; sleep 120`]);
      }
      for (const n of names) {
        const deadline = Date.now() + 10_000;
        let out = "";
        while (!out.includes(`hi-${n}`) && Date.now() < deadline) {
          out = await d.ok(["logs", n]);
          if (!out.includes(`hi-${n}`)) await new Promise((r) => setTimeout(r, 100));
        }
        assertEquals(out, `hi-${n}\n`);
      }
      // And the daemon still runs, and pumps, what comes next.
      const r = await d.cli(["run", "--rm", "busybox", "echo", "after"]);
      assertEquals([r.code, r.stdout], [0, "after\n"]);
    } finally {
      await d.cli(["rm", "-f", ...names]);
    }
  },
);
