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
