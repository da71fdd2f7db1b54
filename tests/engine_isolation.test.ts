/**
 * What a container sees from inside, checked by busybox commands run in it.
 */

import { deepStrictEqual as assertEquals, match, ok } from "node:assert/strict";
import { daemonTest } from "./helpers/fixture.ts";

daemonTest("containers are isolated as docker isolates them", async (d, t) => {
  await t.step("the workload is PID 1 of its own pid namespace", async () => {
    assertEquals((await d.ok(["run", "--rm", "busybox", "sh", "-c", "echo $$"])).trim(), "1");
  });

  await t.step("host processes are invisible inside", async () => {
    const out = await d.ok(["run", "--rm", "busybox", "ps", "-o", "pid"]);
    const pids = out.trim().split("\n").slice(1).map((l) => Number(l.trim()));
    // Only the container's own processes: ps itself is PID 1.
    assertEquals(pids, [1]);
  });

  await t.step("hostname defaults to the short id and --hostname sets it", async () => {
    assertEquals(
      (await d.ok(["run", "--rm", "--hostname", "box1", "busybox", "hostname"])).trim(),
      "box1",
    );
    const id = (await d.ok(["create", "busybox", "hostname"])).trim();
    await d.ok(["start", id]);
    await d.ok(["wait", id]);
    assertEquals((await d.ok(["logs", id])).trim(), id.slice(0, 12));
    await d.ok(["rm", id]);
  });

  await t.step("docker's masked paths are masked", async () => {
    const out = await d.ok([
      "run",
      "--rm",
      "busybox",
      "sh",
      "-c",
      "wc -c < /proc/keys; wc -c < /proc/timer_list; ls /proc/kcore 2>&1 || true",
    ]);
    const [keys, timers] = out.trim().split("\n");
    assertEquals(keys.trim(), "0");
    assertEquals(timers.trim(), "0");
  });

  await t.step("/sys is read-only", async () => {
    const r = await d.cli(["run", "--rm", "busybox", "touch", "/sys/polis-test"]);
    assertEquals(r.code, 1);
    match(r.stderr, /Read-only file system/);
  });

  await t.step("/proc/sys is read-only", async () => {
    const r = await d.cli([
      "run",
      "--rm",
      "busybox",
      "sh",
      "-c",
      "echo 1 > /proc/sys/kernel/domainname",
    ]);
    ok(r.code !== 0, "writing /proc/sys must fail");
  });

  await t.step("env, working dir and user are applied", async () => {
    const out = await d.ok([
      "run",
      "--rm",
      "-e",
      "FOO=bar",
      "-w",
      "/tmp",
      "-u",
      "nobody",
      "busybox",
      "sh",
      "-c",
      'echo "$FOO"; pwd; id -u; id -g; echo "$HOME"',
    ]);
    assertEquals(out.trim().split("\n"), ["bar", "/tmp", "65534", "65534", "/home/nobody"]);
  });

  await t.step("numeric uid:gid is applied without a passwd entry", async () => {
    const out = await d.ok([
      "run",
      "--rm",
      "-u",
      "1234:5678",
      "busybox",
      "sh",
      "-c",
      "id -u; id -g",
    ]);
    assertEquals(out.trim().split("\n"), ["1234", "5678"]);
  });

  await t.step("the container has only its own devices", async () => {
    const out = await d.ok(["run", "--rm", "busybox", "ls", "/dev"]);
    const devs = out.trim().split(/\s+/);
    for (const want of ["null", "zero", "full", "random", "urandom", "tty", "pts", "shm"]) {
      ok(devs.includes(want), `/dev/${want} missing: ${devs}`);
    }
    ok(
      !devs.includes("sda") && !devs.includes("vda") && !devs.includes("kmsg"),
      `host devices leak: ${devs}`,
    );
  });

  await t.step("the network namespace has only lo by default", async () => {
    const out = await d.ok(["run", "--rm", "busybox", "ls", "/sys/class/net"]);
    assertEquals(out.trim().split(/\s+/), ["lo"]);
  });
});
