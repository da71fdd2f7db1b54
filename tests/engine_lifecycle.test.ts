/**
 * Container lifecycle through the real CLI: run, create/start, stop, kill,
 * restart, wait, logs, inspect, ps, rm, and the resource limits.
 */

import { deepStrictEqual as assertEquals, match, ok } from "node:assert/strict";
import { daemonTest } from "./helpers/fixture.ts";
import { cgroupDirs, mountsUnder } from "./helpers/daemon.ts";

function existsSync(p: string): boolean {
  try {
    Deno.lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

async function waitFor(what: string, fn: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

daemonTest("container lifecycle works as with docker", async (d, t) => {
  await t.step("a foreground run exits with the container's exit code", async () => {
    const r = await d.cli(["run", "--rm", "busybox", "sh", "-c", "exit 42"]);
    assertEquals(r.code, 42);
  });

  await t.step("stdout and stderr reach the terminal and the log, each on its stream", async () => {
    const r = await d.cli([
      "run",
      "--name",
      "streams",
      "busybox",
      "sh",
      "-c",
      "echo to-out; echo to-err >&2",
    ]);
    assertEquals(r.code, 0);
    assertEquals(r.stdout, "to-out\n");
    assertEquals(r.stderr, "to-err\n");
    const logs = await d.cli(["logs", "streams"]);
    assertEquals(logs.stdout, "to-out\n");
    assertEquals(logs.stderr, "to-err\n");
    const inspect = JSON.parse(await d.ok(["inspect", "streams"]));
    const logFile = Deno.readTextFileSync(inspect[0].LogPath).trim().split("\n").map((l) =>
      JSON.parse(l)
    );
    assertEquals(logFile.map((e: { stream: string; log: string }) => [e.stream, e.log]).sort(), [
      ["stderr", "to-err\n"],
      ["stdout", "to-out\n"],
    ]);
    for (const e of logFile) ok(!Number.isNaN(Date.parse(e.time)), "time is RFC3339");
    await d.ok(["rm", "streams"]);
  });

  await t.step("logs --tail and -t", async () => {
    await d.ok([
      "run",
      "--name",
      "tail",
      "busybox",
      "sh",
      "-c",
      "for i in 1 2 3 4 5; do echo l$i; done",
    ]);
    assertEquals(await d.ok(["logs", "--tail", "2", "tail"]), "l4\nl5\n");
    const ts = await d.ok(["logs", "-t", "--tail", "1", "tail"]);
    match(ts, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z l5\n$/);
    await d.ok(["rm", "tail"]);
  });

  await t.step("create runs nothing until start; -d prints the id", async () => {
    const id = (await d.ok(["create", "--name", "later", "busybox", "sh", "-c", "echo started"]))
      .trim();
    match(id, /^[0-9a-f]{64}$/);
    const before = JSON.parse(await d.ok(["inspect", "later"]))[0];
    assertEquals(before.State.Status, "created");
    assertEquals(await d.ok(["logs", "later"]), "");
    await d.ok(["start", "later"]);
    assertEquals((await d.ok(["wait", "later"])).trim(), "0");
    assertEquals(await d.ok(["logs", "later"]), "started\n");
    await d.ok(["rm", "later"]);
  });

  await t.step("inspect has docker's shape", async () => {
    const id = (await d.ok([
      "run",
      "-d",
      "--name",
      "shape",
      "-l",
      "app=web",
      "busybox",
      "sleep",
      "30",
    ])).trim();
    const [c] = JSON.parse(await d.ok(["inspect", "shape"]));
    assertEquals(c.Id, id);
    assertEquals(c.Name, "/shape");
    assertEquals(c.State.Status, "running");
    assertEquals(c.State.Running, true);
    ok(c.State.Pid > 1, "host pid recorded");
    // No resident Deno process per container: the recorded pid is the workload itself
    // (busybox, exec'd by the init) and the daemon is its parent, with nothing between.
    ok(Deno.readLinkSync(`/proc/${c.State.Pid}/exe`).endsWith("/bin/busybox"));
    const stat = Deno.readTextFileSync(`/proc/${c.State.Pid}/stat`);
    assertEquals(Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]), d.pid);
    assertEquals(c.Config.Cmd, ["sleep", "30"]);
    assertEquals(c.Config.Labels, { app: "web" });
    ok("HostConfig" in c && "NetworkSettings" in c, "HostConfig and NetworkSettings present");
    ok(!Number.isNaN(Date.parse(c.State.StartedAt)));

    const ps = await d.ok(["ps", "--format", "json"]);
    const rows = ps.trim().split("\n").map((l) => JSON.parse(l));
    ok(rows.some((r) => r.ID?.startsWith(id.slice(0, 12)) || r.Id === id), ps);
    const filtered = await d.ok(["ps", "-q", "-f", "label=app=web"]);
    assertEquals(filtered.trim(), id.slice(0, 12));
    assertEquals((await d.ok(["ps", "-q", "-f", "label=app=db"])).trim(), "");
  });

  await t.step("stop sends SIGTERM, then SIGKILL after the timeout", async () => {
    // sh as PID 1 ignores SIGTERM (no handler, PID 1): the kill after 1 s ends it.
    const t0 = Date.now();
    await d.ok(["stop", "-t", "1", "shape"]);
    const took = Date.now() - t0;
    ok(took >= 900, `stop returned after ${took} ms, before the timeout`);
    const [c] = JSON.parse(await d.ok(["inspect", "shape"]));
    assertEquals(c.State.Status, "exited");
    assertEquals(c.State.ExitCode, 137);
  });

  await t.step("a trapped SIGTERM ends the container with its own code", async () => {
    await d.ok([
      "run",
      "-d",
      "--name",
      "trap",
      "busybox",
      "sh",
      "-c",
      "trap 'exit 7' TERM; while :; do sleep 0.1; done",
    ]);
    await d.ok(["stop", "-t", "10", "trap"]);
    assertEquals(JSON.parse(await d.ok(["inspect", "trap"]))[0].State.ExitCode, 7);
    await d.ok(["rm", "trap"]);
  });

  await t.step("kill -s delivers the named signal", async () => {
    await d.ok([
      "run",
      "-d",
      "--name",
      "usr1",
      "busybox",
      "sh",
      "-c",
      "trap 'echo got-usr1; exit 3' USR1; while :; do sleep 0.1; done",
    ]);
    await new Promise((r) => setTimeout(r, 300));
    await d.ok(["kill", "-s", "USR1", "usr1"]);
    assertEquals((await d.ok(["wait", "usr1"])).trim(), "3");
    assertEquals(await d.ok(["logs", "usr1"]), "got-usr1\n");
    await d.ok(["rm", "usr1"]);
  });

  await t.step("restart runs the container again", async () => {
    await d.ok(["start", "shape"]);
    await d.ok(["restart", "-t", "0", "shape"]);
    const [c] = JSON.parse(await d.ok(["inspect", "shape"]));
    assertEquals(c.State.Running, true);
    assertEquals(c.RestartCount, 1);
    await d.ok(["rm", "-f", "shape"]);
  });

  await t.step("rm refuses a running container without -f and removes it with -f", async () => {
    const id = (await d.ok(["run", "-d", "--name", "busy", "busybox", "sleep", "60"])).trim();
    const r = await d.cli(["rm", "busy"]);
    ok(r.code !== 0);
    match(r.stderr, /running/);
    await d.ok(["rm", "-f", "busy"]);
    const gone = await d.cli(["inspect", "busy"]);
    ok(gone.code !== 0);
    match(gone.stderr, /No such (container|object)/);
    // Nothing is left: no mount, no cgroup, no directory.
    assertEquals(mountsUnder(d.dir).filter((m) => m.includes(id)), []);
    for (const base of cgroupDirs(d.cgroupParent)) {
      ok(!existsSync(`${base}/${id}`), `cgroup ${base}/${id} left behind`);
    }
    ok(!existsSync(`${d.root}/containers/${id}`), "container dir left behind");
    ok(!existsSync(`${d.runDir}/runtime/${id}`), "runtime state left behind");
    // The files went through the trash, emptied in the background.
    await waitFor("the trash to empty", () =>
      Promise.resolve(
        [`${d.root}/trash`, `${d.runDir}/trash`].every((t) =>
          [...Deno.readDirSync(t)].length === 0
        ),
      ));
  });

  await t.step("run --rm returns once the container is removed, with its exit code", async () => {
    const r = await d.cli(["run", "--rm", "--name", "gone", "busybox", "sh", "-c", "exit 3"]);
    assertEquals(r.code, 3);
    // As docker: no window in which the name is still taken.
    const gone = await d.cli(["inspect", "gone"]);
    ok(gone.code !== 0, "the container is still there after run --rm returned");
    await d.ok(["run", "--rm", "--name", "gone", "busybox", "true"]);
  });

  await t.step("--memory 32m: a process that allocates more is OOM-killed (137)", async () => {
    const r = await d.cli([
      "run",
      "--name",
      "oom",
      "--memory",
      "32m",
      "busybox",
      "sh",
      "-c",
      'x=aaaaaaaaaaaaaaaa; while :; do x="$x$x"; done',
    ]);
    assertEquals(r.code, 137);
    const [c] = JSON.parse(await d.ok(["inspect", "oom"]));
    assertEquals(c.State.OOMKilled, true);
    assertEquals(c.State.ExitCode, 137);
    assertEquals(c.HostConfig.Memory, 32 * 1024 * 1024);
    await d.ok(["rm", "oom"]);
  });

  await t.step("a container limited to 16 MiB runs", async () => {
    assertEquals(
      await d.ok(["run", "--rm", "--memory", "16m", "busybox", "echo", "fits"]),
      "fits\n",
    );
  });

  await t.step("--pids-limit holds", async () => {
    const r = await d.cli([
      "run",
      "--rm",
      "--pids-limit",
      "5",
      "busybox",
      "sh",
      "-c",
      "for i in 1 2 3 4 5 6 7 8 9 10; do sleep 1 & done; wait",
    ]);
    match(r.stderr, /can't fork|Resource temporarily unavailable/);
  });

  await t.step("--cpus sets the CFS quota", async () => {
    const id = (await d.ok(["run", "-d", "--cpus", "0.5", "busybox", "sleep", "30"])).trim();
    const [c] = JSON.parse(await d.ok(["inspect", id]));
    assertEquals(c.HostConfig.NanoCpus, 500_000_000);
    const quota = cgroupDirs(d.cgroupParent)
      .map((b) => `${b}/${id}/cpu.cfs_quota_us`)
      .filter(existsSync)
      .map((f) => Deno.readTextFileSync(f).trim());
    assertEquals(quota, ["50000"]);
    await d.ok(["rm", "-f", id]);
  });

  await t.step("exited containers are reaped: no zombies", async () => {
    const id = (await d.ok(["run", "-d", "busybox", "true"])).trim();
    await d.ok(["wait", id]);
    const [c] = JSON.parse(await d.ok(["inspect", id]));
    assertEquals(c.State.Status, "exited");
    const zombies = [...Deno.readDirSync("/proc")].filter((e) => /^\d+$/.test(e.name)).filter(
      (e) => {
        try {
          const stat = Deno.readTextFileSync(`/proc/${e.name}/stat`);
          const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
          return ppid === d.pid && stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
        } catch {
          return false;
        }
      },
    );
    assertEquals(zombies.length, 0);
    await d.ok(["rm", id]);
  });
});
