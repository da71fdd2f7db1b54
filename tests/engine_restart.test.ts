/**
 * The daemon is not the containers' keeper: kill -9 it and they keep running;
 * the restarted daemon adopts them, stops them, shows their logs and records
 * their exit.
 */

import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import { daemonTest } from "./helpers/fixture.ts";

/** Alive and not a zombie (a zombie waits for whoever inherited it to reap it). */
function alive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

daemonTest("containers survive a daemon kill -9 and are adopted on restart", async (d, t) => {
  let pid = 0;
  await t.step("a sleeping container keeps running after the daemon is SIGKILLed", async () => {
    await d.ok([
      "run",
      "-d",
      "--name",
      "sleeper",
      "busybox",
      "sh",
      "-c",
      "echo before; trap 'echo got-term; exit 0' TERM; while :; do sleep 0.2; done",
    ]);
    await d.ok(["run", "-d", "--name", "shortlived", "busybox", "sh", "-c", "echo early; sleep 1"]);
    pid = JSON.parse(await d.ok(["inspect", "sleeper"]))[0].State.Pid;
    ok(alive(pid));
    await d.stop("SIGKILL");
    await new Promise((r) => setTimeout(r, 1500));
    ok(alive(pid), "container died with the daemon");
    await new Promise((r) => setTimeout(r, 500));
  });

  await t.step(
    "files a killed daemon left in its trash are removed at the next start",
    async () => {
      // As a kill -9 between the move into the trash and the end of the removal leaves them.
      Deno.mkdirSync(`${d.root}/trash/leftover.x/upper/deep`, { recursive: true });
      Deno.writeTextFileSync(`${d.root}/trash/leftover.x/upper/deep/f`, "x");
      await d.start();
      const deadline = Date.now() + 10_000;
      while ([...Deno.readDirSync(`${d.root}/trash`)].length > 0) {
        if (Date.now() > deadline) throw new Error("the trash was not emptied after a restart");
        await new Promise((r) => setTimeout(r, 50));
      }
    },
  );

  await t.step("the restarted daemon lists it as running", async () => {
    const [c] = JSON.parse(await d.ok(["inspect", "sleeper"]));
    assertEquals(c.State.Status, "running");
    assertEquals(c.State.Pid, pid);
    const ps = await d.ok(["ps", "--format", "json"]);
    ok(ps.includes("sleeper"), ps);
  });

  await t.step(
    "a container that ended while the daemon was away is recorded as exited",
    async () => {
      const [c] = JSON.parse(await d.ok(["inspect", "shortlived"]));
      assertEquals(c.State.Status, "exited");
      assertEquals(c.State.Running, false);
      assertEquals(await d.ok(["logs", "shortlived"]), "early\n");
    },
  );

  await t.step("the adopted container can be stopped, and its logs are complete", async () => {
    await d.ok(["stop", "-t", "10", "sleeper"]);
    ok(!alive(pid), "container still running after stop");
    const [c] = JSON.parse(await d.ok(["inspect", "sleeper"]));
    assertEquals(c.State.Status, "exited");
    assertEquals(await d.ok(["logs", "sleeper"]), "before\ngot-term\n");
    await d.ok(["rm", "sleeper", "shortlived"]);
  });
});
