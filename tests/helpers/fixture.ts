/**
 * One real daemon per test file, with the busybox test image loaded, removed
 * with everything it made when the file's tests end (also on failure).
 * @module
 */

import { busyboxImages } from "./image.ts";
import { isRoot, TestDaemon } from "./daemon.ts";

export { isRoot, TestDaemon };

export const SKIP_REASON = "integration tests need root (CI runs as root)";

/** The daemon's network settings and extra flags (TestDaemon's third argument). */
export type DaemonOptions = TestDaemon["net"];

/**
 * Runs `fn` against a started daemon (named after the test) with busybox:latest loaded; prints
 * the daemon's log when `fn` fails and removes everything the daemon made in any case.
 */
export async function withTestDaemon(
  name: string,
  options: DaemonOptions,
  fn: (d: TestDaemon) => Promise<void>,
): Promise<void> {
  const prefix = name.toLowerCase().replace(/[^a-z0-9]+/g, "-").slice(0, 20);
  const d = new TestDaemon(prefix, undefined, options);
  try {
    await d.start();
    const imgs = await busyboxImages();
    await d.ok(["load", "-i", imgs.dockerArchive]);
    await fn(d);
  } catch (e) {
    console.error(`daemon log for "${name}":\n${d.daemonLog().slice(-4000)}`);
    throw e;
  } finally {
    await d.cleanup();
  }
}

/**
 * Registers a root-only integration test (ignored, with the reason printed once, when not
 * root). Its daemons and containers outlive single ops, so Deno's op and resource sanitizers
 * are off.
 */
export function rootTest(name: string, fn: (t: Deno.TestContext) => Promise<void>): void {
  Deno.test({ name, ignore: !isRoot, sanitizeOps: false, sanitizeResources: false, fn });
}

/**
 * Registers a Deno test whose steps share one daemon with busybox:latest loaded; `options`
 * start that daemon with other network settings or flags.
 */
export function daemonTest(
  name: string,
  fn: (d: TestDaemon, t: Deno.TestContext) => Promise<void>,
  options: DaemonOptions = {},
): void {
  rootTest(name, (t) => withTestDaemon(name, options, (d) => fn(d, t)));
}

if (!isRoot) console.log(`skipping integration tests: ${SKIP_REASON}`);
