/**
 * One real daemon per test file, with the busybox test image loaded, removed
 * with everything it made when the file's tests end (also on failure).
 * @module
 */

import { busyboxImages } from "./image.ts";
import { isRoot, TestDaemon } from "./daemon.ts";

export { isRoot, TestDaemon };

export const SKIP_REASON = "integration tests need root (CI runs as root)";

/** Registers a Deno test whose steps share one daemon with busybox:latest loaded. */
export function daemonTest(
  name: string,
  fn: (d: TestDaemon, t: Deno.TestContext) => Promise<void>,
): void {
  Deno.test({
    name,
    ignore: !isRoot,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async (t) => {
      const prefix = name.toLowerCase().replace(/[^a-z0-9]+/g, "-").slice(0, 20);
      const d = new TestDaemon(prefix);
      try {
        await d.start();
        const imgs = await busyboxImages();
        await d.ok(["load", "-i", imgs.dockerArchive]);
        await fn(d, t);
      } catch (e) {
        console.error(`daemon log for "${name}":\n${d.daemonLog().slice(-4000)}`);
        throw e;
      } finally {
        await d.cleanup();
      }
    },
  });
}

if (!isRoot) console.log(`skipping integration tests: ${SKIP_REASON}`);
