/**
 * Bad input gets a one-line error, a non-zero exit (4xx over HTTP), and leaves
 * nothing half-made: no row, mount, cgroup, directory or process.
 */

import { deepStrictEqual as assertEquals, match, ok } from "node:assert/strict";
import { daemonTest, type TestDaemon } from "./helpers/fixture.ts";
import { cgroupDirs, mountsUnder } from "./helpers/daemon.ts";

async function snapshot(d: TestDaemon) {
  const ids = (await d.ok(["ps", "-aq", "--no-trunc"])).trim().split("\n").filter(Boolean);
  const dirs = [...Deno.readDirSync(`${d.root}/containers`)].map((e) => e.name).sort();
  const cgroups = cgroupDirs(d.cgroupParent).flatMap((b) =>
    [...Deno.readDirSync(b)].filter((e) => e.isDirectory).map((e) => `${b}/${e.name}`)
  ).sort();
  return { ids, dirs, cgroups, mounts: mountsUnder(d.dir).sort() };
}

async function refused(
  d: TestDaemon,
  args: string[],
  want: RegExp,
  code?: number,
): Promise<void> {
  const before = await snapshot(d);
  const r = await d.cli(args);
  ok(r.code !== 0, `polis ${args.join(" ")} succeeded`);
  if (code !== undefined) assertEquals(r.code, code, r.stderr);
  match(r.stderr, want);
  // One line naming the fault; the CLI may add docker's "See 'polis run --help'." hint.
  const lines = r.stderr.trim().split("\n");
  // …or, for a missing image, docker's "Unable to find image … locally" before the error.
  ok(
    lines.length === 1 ||
      (lines.length === 2 && (/--help/.test(lines[1]) || /^Unable to find image/.test(lines[0]))),
    r.stderr,
  );
  assertEquals(await snapshot(d), before);
}

daemonTest("bad input is refused cleanly", async (d, t) => {
  // One container exists throughout, so "nothing changed" is checked against a non-empty state.
  await d.ok(["create", "--name", "taken", "busybox", "true"]);

  await t.step("unknown image", () => refused(d, ["run", "nosuchimage"], /No such image/, 125));
  await t.step("unknown container", async () => {
    await refused(d, ["start", "nosuch"], /No such container: nosuch/);
    await refused(d, ["stop", "nosuch"], /No such container/);
    await refused(d, ["rm", "nosuch"], /No such container/);
    await refused(d, ["logs", "nosuch"], /No such container/);
    await refused(d, ["inspect", "nosuch"], /No such (container|object)/);
  });
  await t.step(
    "name clash",
    () => refused(d, ["run", "--name", "taken", "busybox", "true"], /already in use/, 125),
  );
  await t.step(
    "invalid name",
    () =>
      refused(d, ["run", "--name", "bad name!", "busybox", "true"], /invalid container name/, 125),
  );
  await t.step(
    "bad memory string",
    () => refused(d, ["run", "--memory", "lots", "busybox", "true"], /memory/, 125),
  );
  await t.step(
    "bad cpus string",
    () => refused(d, ["run", "--cpus", "-1", "busybox", "true"], /cpus/, 125),
  );
  await t.step(
    "bad pids limit",
    () => refused(d, ["run", "--pids-limit", "x", "busybox", "true"], /pids-limit/, 125),
  );
  await t.step(
    "unknown flag",
    () => refused(d, ["run", "--bogus", "busybox"], /unknown flag/, 125),
  );
  await t.step(
    "missing image argument",
    () => refused(d, ["run"], /requires at least 1 argument|image/i, 125),
  );
  await t.step(
    "missing command (image with no Cmd and --entrypoint reset)",
    () => refused(d, ["run", "--entrypoint", "", "busybox"], /no command specified/, 125),
  );
  await t.step("command not found exits 127 and leaves the container stopped", async () => {
    const r = await d.cli(["run", "--rm", "busybox", "no-such-binary"]);
    assertEquals(r.code, 127);
    match(r.stderr, /executable file not found/);
    assertEquals(r.stderr.trim().split("\n").length, 1);
    // nothing running, no mount left for it
    assertEquals((await d.ok(["ps", "-q"])).trim(), "");
  });
  await t.step("non-executable command exits 126", async () => {
    const r = await d.cli(["run", "--rm", "busybox", "/etc/passwd"]);
    assertEquals(r.code, 126);
    match(r.stderr, /permission denied/i);
  });
  await t.step("the API answers bad bodies with 400 and a JSON error", async () => {
    const client = Deno.createHttpClient({ proxy: { transport: "unix", path: d.socket } });
    try {
      const r = await fetch("http://127.0.0.1/v1/containers", {
        client,
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ image: "busybox", memory: "lots" }),
      });
      assertEquals(r.status, 400);
      const body = await r.json();
      assertEquals(body.error.code, "invalid_argument");
      const nf = await fetch("http://127.0.0.1/v1/containers/nosuch/json", { client });
      await nf.body?.cancel();
      ok(nf.status === 404);
      const missing = await fetch("http://127.0.0.1/v1/containers/nosuch", { client });
      assertEquals(missing.status, 404);
      assertEquals((await missing.json()).error.code, "not_found");
    } finally {
      client.close();
    }
  });
  await d.ok(["rm", "taken"]);
});
