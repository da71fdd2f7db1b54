/**
 * End to end: the real CLI against the real API server on a temporary unix socket,
 * backed by the fake engine.
 */
import { deepStrictEqual as assertEquals, match, ok, throws } from "node:assert/strict";
import { createApp, serveApi } from "../api/mod.ts";
import { FakeEngine } from "../api/testing.ts";
import { captureIO } from "./io.ts";
import { runCli } from "./mod.ts";

interface Daemon {
  engine: FakeEngine;
  socket: string;
  dir: string;
  /** Runs the CLI; returns exit code and captured output. */
  cli(
    args: string[],
    opts?: Parameters<typeof captureIO>[0],
  ): Promise<{ code: number; out: string; err: string }>;
}

async function withDaemon(fn: (d: Daemon) => Promise<void>): Promise<void> {
  const dir = Deno.makeTempDirSync({ prefix: "polis-cli-" });
  const socket = `${dir}/polis.sock`;
  const engine = new FakeEngine();
  const server = serveApi(createApp(engine, { version: "1.2.3" }), { socket });
  try {
    await fn({
      engine,
      socket,
      dir,
      async cli(args, opts = {}) {
        const io = captureIO({ ...opts, env: { POLIS_SOCKET: socket, ...opts.env } });
        const code = await runCli(args, io);
        return { code, out: io.out(), err: io.err() };
      },
    });
  } finally {
    await server.close();
    Deno.removeSync(dir, { recursive: true });
  }
}

const ID = /^[0-9a-f]{64}\n$/;

Deno.test("run prints the container's stdout and exits 0, wait and logs set up before start", () =>
  withDaemon(async ({ engine, cli }) => {
    const r = await cli(["run", "busybox", "echo", "hello", "world"]);
    assertEquals(r, { code: 0, out: "hello world\n", err: "" });
    const order = engine.calls.map((c) => c.method).filter((m) =>
      ["createContainer", "waitContainer", "containerLogs", "startContainer"].includes(m)
    );
    assertEquals(order, ["createContainer", "waitContainer", "containerLogs", "startContainer"]);
    assertEquals(engine.callsOf("createContainer")[0][0], {
      image: "busybox",
      cmd: ["echo", "hello", "world"],
    });
  }));

Deno.test("run sends the container's stderr to stderr and exits with its code", () =>
  withDaemon(async ({ cli }) => {
    const r = await cli(["run", "busybox", "fail", "3", "it", "broke"]);
    assertEquals(r, { code: 3, out: "", err: "it broke\n" });
  }));

Deno.test("run --rm leaves no container behind", () =>
  withDaemon(async ({ engine, cli }) => {
    const r = await cli(["run", "--rm", "busybox", "echo", "bye"]);
    assertEquals(r.code, 0);
    assertEquals(r.out, "bye\n");
    assertEquals(engine.containers.size, 0);
    assertEquals(
      (engine.callsOf("createContainer")[0][0] as { autoRemove: boolean }).autoRemove,
      true,
    );
  }));

Deno.test("run exits 127 when the command is missing and 125 for other daemon errors", () =>
  withDaemon(async ({ cli }) => {
    let r = await cli(["run", "busybox", "missing"]);
    assertEquals(r.code, 127);
    assertEquals(r.out, "");
    match(r.err, /^Error response from daemon: exec: "missing": executable file not found/);
    // A missing image is pulled first, as docker does; when the pull fails too, exit 125.
    r = await cli(["run", "missing:image"]);
    assertEquals(r.code, 125);
    match(r.err, /^Unable to find image 'missing:image' locally\n/);
    match(r.err, /manifest for missing:image not found/);
    await cli(["create", "--name", "x", "busybox", "sleep"]);
    r = await cli(["run", "-d", "--name", "x", "busybox", "sleep"]);
    assertEquals(r.code, 125);
    match(r.err, /already in use/);
  }));

Deno.test("run -d translates every option, starts the container and prints its full id", () =>
  withDaemon(async ({ engine, cli, dir }) => {
    Deno.writeTextFileSync(`${dir}/env`, "# comment\nFROM_FILE=1\n\nFROM_HOST\nUNSET_VAR\n");
    const r = await cli([
      "run",
      "-d",
      "--name=web",
      "-e",
      "A=1",
      "--env",
      "HOSTVAR",
      "--env-file",
      `${dir}/env`,
      "-w",
      "/srv",
      "-u",
      "1000:1000",
      "-h",
      "box",
      "--entrypoint",
      "",
      "-m",
      "32m",
      "--cpus",
      "0.5",
      "--pids-limit",
      "64",
      "-l",
      "tier=web",
      "-l",
      "flag",
      "--rm",
      "busybox",
      "sleep",
      "-x",
    ], { env: { HOSTVAR: "h", FROM_HOST: "fh" } });
    assertEquals(r.err, "");
    assertEquals(r.code, 0);
    match(r.out, ID);
    assertEquals(engine.callsOf("createContainer")[0][0], {
      image: "busybox",
      name: "web",
      cmd: ["sleep", "-x"],
      entrypoint: [],
      env: ["FROM_FILE=1", "FROM_HOST=fh", "A=1", "HOSTVAR=h"],
      workingDir: "/srv",
      user: "1000:1000",
      hostname: "box",
      labels: { tier: "web", flag: "" },
      memory: 32 * 1024 * 1024,
      nanoCpus: 500_000_000,
      pidsLimit: 64,
      autoRemove: true,
    });
    assertEquals(engine.containers.get(r.out.trim())!.state, "running");
  }));

Deno.test("bad flags exit 125 with one line naming the flag, before any daemon call", () =>
  withDaemon(async ({ engine, cli }) => {
    const cases: [string[], string][] = [
      [["run", "--memory", "lots", "busybox"], 'invalid argument "lots" for "-m, --memory" flag: '],
      [["run", "--cpus", "x", "busybox"], 'invalid argument "x" for "--cpus" flag: '],
      [["run", "--foo", "busybox"], "unknown flag: --foo\n"],
      [["run", "-it", "busybox"], "unknown shorthand flag: 'i' in -it\n"],
      [["run"], '"polis run" requires at least 1 argument\n'],
      [["ps", "--bogus"], "unknown flag: --bogus\n"],
      [["ps", "-f", "nonsense"], 'bad format of filter "nonsense" (expected name=value)\n'],
      [["logs", "--since", "yesterday", "x"], "invalid argument for --since: invalid time"],
      [["logs", "--tail", "many", "x"], 'invalid argument "many" for "-n, --tail" flag'],
      [["frobnicate"], "'frobnicate' is not a polis command\n"],
      [["image", "frob"], "'frob' is not a polis image command\n"],
      [["--nope", "ps"], "unknown flag: --nope\n"],
      [["--socket", "/x", "daemon"], "'daemon' must come first: polis daemon [OPTIONS]\n"],
    ];
    for (const [args, start] of cases) {
      const r = await cli(args);
      assertEquals(r.code, 125, args.join(" "));
      assertEquals(r.out, "");
      ok(r.err.startsWith(start), `${args.join(" ")}: ${r.err}`);
      match(r.err, /\nSee 'polis( [a-z]+)* --help'\.\n$/);
    }
    assertEquals(engine.calls.length, 0);
  }));

Deno.test("create prints the id; start, stop, restart, kill and rm print each target", () =>
  withDaemon(async ({ engine, cli }) => {
    const c = await cli(["create", "--name", "web", "busybox", "sleep"]);
    assertEquals(c.code, 0);
    match(c.out, ID);
    assertEquals(engine.containers.get(c.out.trim())!.state, "created");
    const steps: [string[], string, unknown[]][] = [
      [["start", "web"], "startContainer", ["web"]],
      [["restart", "-t", "2", "web"], "restartContainer", ["web", 2]],
      [["kill", "-s", "SIGUSR1", "web"], "killContainer", ["web", "SIGUSR1"]],
      [["container", "start", "web"], "startContainer", ["web"]],
      [["stop", "--time=7", "web"], "stopContainer", ["web", 7]],
      [["rm", "-f", "web"], "removeContainer", ["web", { force: true }]],
    ];
    for (const [args, method, want] of steps) {
      const r = await cli(args);
      assertEquals(r, { code: 0, out: "web\n", err: "" }, args.join(" "));
      assertEquals(engine.callsOf(method).at(-1), want, args.join(" "));
    }
  }));

Deno.test("a verb over several targets does the good ones and exits 1 for the bad", () =>
  withDaemon(async ({ cli }) => {
    await cli(["create", "--name", "a", "busybox", "sleep"]);
    await cli(["create", "--name", "b", "busybox", "sleep"]);
    const r = await cli(["rm", "a", "ghost", "b"]);
    assertEquals(r.code, 1);
    assertEquals(r.out, "a\nb\n");
    assertEquals(r.err, "Error response from daemon: No such container: ghost\n");
  }));

Deno.test("ps shows docker's table, ids only, JSON lines and templates", () =>
  withDaemon(async ({ cli }) => {
    const id =
      (await cli(["run", "-d", "--name", "web", "busybox", "sleep", "forever", "and", "ever"]))
        .out.trim();
    await cli(["create", "--name", "idle", "busybox", "sleep"]);

    let r = await cli(["ps"]);
    assertEquals(r.code, 0);
    const lines = r.out.split("\n");
    assertEquals(lines[0].split(/ {3,}/), [
      "CONTAINER ID",
      "IMAGE",
      "COMMAND",
      "CREATED",
      "STATUS",
      "NAMES",
    ]);
    assertEquals(lines[0].indexOf("IMAGE"), lines[1].indexOf("busybox"), "columns align");
    match(lines[1], new RegExp(`^${id.slice(0, 12)}   busybox   "sleep forever and e…"   `));
    match(lines[1], /Less than a second ago\s+Up Less than a second\s+web$/);
    assertEquals(lines.length, 3);

    r = await cli(["ps", "-aq"]);
    assertEquals(r.out.split("\n").filter(Boolean).length, 2);
    r = await cli(["ps", "-q", "--no-trunc"]);
    assertEquals(r.out, id + "\n");

    r = await cli(["ps", "-a", "--format", "json", "-f", "status=created"]);
    const rows = r.out.trim().split("\n").map((l) => JSON.parse(l));
    assertEquals(rows.length, 1);
    assertEquals(rows[0].Names, "idle");
    assertEquals(rows[0].State, "created");
    assertEquals(rows[0].Command, '"sleep"');

    r = await cli(["container", "ls", "--format", "{{.Names}}:{{.State}}"]);
    assertEquals(r.out, "web:running\n");
  }));

Deno.test("logs prints both streams, with timestamps, tail and since", () =>
  withDaemon(async ({ engine, cli }) => {
    const { out } = await cli(["create", "--name", "web", "busybox", "sleep"]);
    const c = engine.containers.get(out.trim())!;
    c.logs.push(
      { stream: "stdout", log: "one\n", time: "2024-05-01T10:00:00.000Z" },
      { stream: "stderr", log: "two\n", time: "2024-05-01T10:00:01.000Z" },
      { stream: "stdout", log: "three\n", time: "2024-05-01T10:00:02.000Z" },
    );
    let r = await cli(["logs", "web"]);
    assertEquals(r, { code: 0, out: "one\nthree\n", err: "two\n" });
    r = await cli(["logs", "-t", "--tail", "1", "web"]);
    assertEquals(r.out, "2024-05-01T10:00:02.000Z three\n");
    r = await cli(["logs", "--since", "2024-05-01T10:00:01Z", "-n", "all", "web"]);
    assertEquals([r.out, r.err], ["three\n", "two\n"]);
    r = await cli(["logs", "--until", "1714557600.5", "web"]);
    assertEquals(r.out, "one\n");
    await cli(["logs", "--since", "10m", "web"], { now: Date.parse("2024-05-01T10:10:01Z") });
    const opts = engine.callsOf("containerLogs").at(-1)![1] as { since: number };
    assertEquals(opts.since, Date.parse("2024-05-01T10:00:01Z") / 1000);
    r = await cli(["logs", "ghost"]);
    assertEquals(r, {
      code: 1,
      out: "",
      err: "Error response from daemon: No such container: ghost\n",
    });
  }));

Deno.test("logs -f follows until the container stops", () =>
  withDaemon(async ({ engine, cli }) => {
    const id = (await cli(["run", "-d", "--name", "web", "busybox", "sleep"])).out.trim();
    const c = engine.containers.get(id)!;
    setTimeout(() => {
      c.logs.push({ stream: "stdout", log: "live\n", time: new Date().toISOString() });
      for (const wake of [...c.wakers]) wake();
      setTimeout(() => void engine.stopContainer(id), 20);
    }, 20);
    const r = await cli(["logs", "-f", "web"]);
    assertEquals(r, { code: 0, out: "live\n", err: "" });
    assertEquals(engine.openFollowers, 0);
  }));

Deno.test("inspect prints a 4-space JSON array, falls back to images, and formats templates", () =>
  withDaemon(async ({ cli }) => {
    const id = (await cli(["create", "--name", "web", "busybox", "sleep"])).out.trim();
    let r = await cli(["inspect", "web", "busybox"]);
    assertEquals(r.code, 0);
    ok(r.out.startsWith('[\n    {\n        "Id": '));
    const arr = JSON.parse(r.out);
    assertEquals(arr.map((o: { Id: string }) => o.Id), [id, "sha256:" + "b".repeat(64)]);

    r = await cli(["inspect", "-f", "{{.Name}} {{.State.Status}} {{json .Config.Cmd}}", "web"]);
    assertEquals(r.out, '/web created ["sleep"]\n');

    r = await cli(["inspect", "web", "ghost"]);
    assertEquals(r.code, 1);
    assertEquals(JSON.parse(r.out).length, 1);
    assertEquals(r.err, "Error: No such object: ghost\n");

    r = await cli(["inspect", "ghost"]);
    assertEquals([r.code, r.out], [1, "[]\n"]);

    r = await cli(["image", "inspect", "--format", "{{.Os}}", "busybox"]);
    assertEquals(r, { code: 0, out: "linux\n", err: "" });
    r = await cli(["container", "inspect", "busybox"]);
    assertEquals([r.code, r.err], [1, "Error: No such container: busybox\n"]);
  }));

Deno.test("wait prints each exit code in the order given", () =>
  withDaemon(async ({ engine, cli }) => {
    const a = (await cli(["run", "-d", "busybox", "sleep"])).out.trim();
    const b = (await cli(["run", "-d", "busybox", "sleep"])).out.trim();
    setTimeout(() => {
      void engine.killContainer(b);
      void engine.stopContainer(a);
    }, 20);
    const r = await cli(["wait", a, b]);
    assertEquals(r, { code: 0, out: "143\n137\n", err: "" });
  }));

Deno.test("images lists one row per tag; -q, json and image ls work", () =>
  withDaemon(async ({ cli }) => {
    let r = await cli(["tag", "busybox", "reg.local:5000/tools/bb:1.36"]);
    assertEquals(r, { code: 0, out: "", err: "" });
    r = await cli(["images"]);
    const lines = r.out.trimEnd().split("\n");
    assertEquals(lines[0].split(/\s{2,}/), ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"]);
    assertEquals(lines[1].split(/\s{2,}/), [
      "busybox",
      "latest",
      "bbbbbbbbbbbb",
      "3 days ago",
      "4.26MB",
    ]);
    assertEquals(lines[2].split(/\s{2,}/).slice(0, 2), ["reg.local:5000/tools/bb", "1.36"]);
    r = await cli(["images", "-q"]);
    assertEquals(r.out, "bbbbbbbbbbbb\n");
    r = await cli(["image", "ls", "--format", "json"]);
    assertEquals(JSON.parse(r.out.split("\n")[0]).Repository, "busybox");
    r = await cli(["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assertEquals(r.out, "busybox:latest\nreg.local:5000/tools/bb:1.36\n");
  }));

Deno.test("load streams a file or stdin to the daemon and prints what it loaded", () =>
  withDaemon(async ({ engine, cli, dir }) => {
    Deno.writeFileSync(`${dir}/img.tar`, new Uint8Array(100_000).fill(7));
    let r = await cli(["load", "-i", `${dir}/img.tar`]);
    assertEquals(r, { code: 0, out: "Loaded image: loaded:latest\n", err: "" });
    assertEquals(engine.lastLoadedBytes, 100_000);
    r = await cli(["image", "load", "-q"], { stdin: new Uint8Array(512) });
    assertEquals(r, { code: 0, out: "", err: "" });
    assertEquals(engine.lastLoadedBytes, 512);
    r = await cli(["load"]);
    assertEquals(r.code, 125);
    match(r.err, /stdin is a terminal/);
    r = await cli(["load", "-i", `${dir}/missing.tar`]);
    assertEquals(r.code, 125);
    match(r.err, /^open .*missing\.tar: /);
  }));

Deno.test("rmi prints untagged and deleted; a missing image exits 1", () =>
  withDaemon(async ({ cli }) => {
    await cli(["tag", "busybox", "mine:1"]);
    let r = await cli(["rmi", "mine:1"]);
    assertEquals(r, { code: 0, out: "Untagged: mine:1\n", err: "" });
    r = await cli(["image", "rm", "busybox"]);
    assertEquals(r.out, `Untagged: busybox:latest\nDeleted: sha256:${"b".repeat(64)}\n`);
    r = await cli(["rmi", "busybox"]);
    assertEquals(r, {
      code: 1,
      out: "",
      err: "Error response from daemon: No such image: busybox\n",
    });
  }));

Deno.test("login asks the daemon to check the credentials and saves them only if accepted", () =>
  withDaemon(async ({ cli, engine, dir }) => {
    const env = { POLIS_CONFIG: `${dir}/docker` };
    let r = await cli(["login", "-u", "bob", "--password-stdin", "127.0.0.1:5000"], {
      env,
      stdin: new TextEncoder().encode("wrong\n"),
    });
    assertEquals(r.code, 1);
    match(r.err, /unauthorized/);
    assertEquals(r.err.trim().split("\n").length, 1);
    throws(() => Deno.statSync(`${dir}/docker/config.json`));
    r = await cli(["login", "-u", "bob", "--password-stdin", "http://127.0.0.1:5000/"], {
      env,
      stdin: new TextEncoder().encode("secret\n"),
    });
    assertEquals([r.code, r.out], [0, "Login Succeeded\n"]);
    assertEquals(engine.calls.filter((c) => c.method === "login").map((c) => c.args), [
      ["127.0.0.1:5000", "bob"],
      ["127.0.0.1:5000", "bob"],
    ]);
    const saved = JSON.parse(Deno.readTextFileSync(`${dir}/docker/config.json`));
    assertEquals(saved.auths["127.0.0.1:5000"].auth, btoa("bob:secret"));
    assertEquals(Deno.statSync(`${dir}/docker/config.json`).mode! & 0o777, 0o600);
  }));

Deno.test("version shows client and server; info shows the daemon's view", () =>
  withDaemon(async ({ cli }) => {
    let r = await cli(["version"]);
    assertEquals(r.code, 0);
    match(r.out, /^Client:\n Version: +\d+\.\d+\.\d+/);
    match(r.out, /\nServer:\n Version: +0\.0\.0-fake\n/);
    r = await cli(["version", "--format", "json"]);
    assertEquals(JSON.parse(r.out).Server.Version, "0.0.0-fake");
    r = await cli(["info"]);
    ok(r.out.startsWith("Server:\n Containers:"));
    match(r.out, /\n {2}Running: +0\n/);
    match(r.out, /\n Total Memory: +8GiB\n/);
    r = await cli(["info", "--format", "json"]);
    assertEquals(JSON.parse(r.out).NCPU, 4);
    r = await cli(["info", "--format", "{{.NCPU}} {{.CgroupVersion}}"]);
    assertEquals(r.out, "4 1\n");
    r = await cli(["version", "--format", "{{.Server.Version}}"]);
    assertEquals(r.out, "0.0.0-fake\n");
    r = await cli(["--version"]);
    match(r.out, /^Polis version \d+\.\d+\.\d+\n$/);
  }));

Deno.test("Ctrl-C during a foreground run is forwarded to the container", () =>
  withDaemon(async ({ engine, socket }) => {
    const io = captureIO({ env: { POLIS_SOCKET: socket } });
    let handler: ((s: Deno.Signal) => void) | undefined;
    let removed = false;
    io.onSignals = (_sigs, h) => {
      handler = h;
      return () => (removed = true);
    };
    const running = runCli(["run", "busybox", "sleep"], io);
    for (let i = 0; i < 200 && !handler; i++) await new Promise((r) => setTimeout(r, 5));
    handler!("SIGINT");
    assertEquals(await running, 137);
    assertEquals(engine.callsOf("killContainer").at(-1)!.slice(1), ["SIGINT"]);
    ok(removed, "signal listeners removed");
  }));

Deno.test("without a daemon: one line, exit 1 (125 for run), socket from --socket or env", async () => {
  const socket = `/tmp/polis-nodaemon-${crypto.randomUUID()}.sock`;
  const want = `cannot connect to the Polis daemon at ${socket}: is 'polis daemon' running?\n`;
  let io = captureIO({ env: { POLIS_SOCKET: socket } });
  assertEquals(await runCli(["ps"], io), 1);
  assertEquals(io.err(), want);
  io = captureIO();
  assertEquals(await runCli(["--socket", socket, "run", "busybox"], io), 125);
  assertEquals(io.err(), want);
  io = captureIO();
  assertEquals(await runCli([`--socket=${socket}`, "version"], io), 1);
  match(io.out(), /^Client:/);
  assertEquals(io.err(), want);
});

Deno.test("help lists every command, the daemon and each command's flags", async () => {
  let io = captureIO();
  assertEquals(await runCli([], io), 0);
  for (const word of ["run", "ps", "images", "load", "image", "container", "daemon", "--socket"]) {
    ok(io.out().includes(`  ${word}`), word);
  }
  io = captureIO();
  assertEquals(await runCli(["run", "--help"], io), 0);
  for (
    const flag of [
      "-d, --detach",
      "--rm",
      "-e, --env list",
      "--env-file FILE",
      "-m, --memory SIZE",
      "--cpus N",
      "--pids-limit int",
      "-l, --label list",
      "-h, --hostname string",
      "    --help",
    ]
  ) {
    ok(io.out().includes(flag), flag);
  }
  ok(io.out().includes("Usage:  polis run [OPTIONS] IMAGE [COMMAND] [ARG...]"));
  io = captureIO();
  assertEquals(await runCli(["ps", "-h"], io), 0);
  ok(io.out().includes("-h, --help"));
  io = captureIO();
  assertEquals(await runCli(["help", "image", "ls"], io), 0);
  ok(io.out().includes("Usage:  polis image ls [OPTIONS]"));
  io = captureIO();
  assertEquals(await runCli(["image"], io), 0);
  ok(io.out().includes("Usage:  polis image COMMAND"));
});
