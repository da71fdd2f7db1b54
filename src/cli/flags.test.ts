import { deepStrictEqual as assertEquals, throws } from "node:assert/strict";
import { type CommandSpec, parseArgs, UsageError } from "./flags.ts";

const runLike: CommandSpec = {
  usage: "run [OPTIONS] IMAGE [COMMAND] [ARG...]",
  summary: "",
  stopAtPositional: true,
  args: { min: 1 },
  flags: [
    { name: "detach", short: "d", kind: "bool", help: "" },
    { name: "rm", kind: "bool", help: "" },
    { name: "name", kind: "string", help: "" },
    { name: "env", short: "e", kind: "list", help: "" },
    { name: "label", short: "l", kind: "list", help: "" },
    { name: "hostname", short: "h", kind: "string", help: "" },
    { name: "pids-limit", kind: "int", help: "" },
    { name: "memory", short: "m", kind: "string", help: "" },
  ],
};

const psLike: CommandSpec = {
  usage: "ps [OPTIONS]",
  summary: "",
  args: { min: 0, max: 0 },
  flags: [
    { name: "all", short: "a", kind: "bool", help: "" },
    { name: "quiet", short: "q", kind: "bool", help: "" },
    { name: "filter", short: "f", kind: "list", help: "" },
    { name: "time", short: "t", kind: "int", help: "" },
  ],
};

const rmLike: CommandSpec = {
  usage: "rm [OPTIONS] CONTAINER [CONTAINER...]",
  summary: "",
  args: { min: 1 },
  flags: [{ name: "force", short: "f", kind: "bool", help: "" }],
};

Deno.test("parseArgs reads every flag form and keeps the trailing command for run", () => {
  const cases: [string[], Record<string, unknown>, string[]][] = [
    [["busybox"], {}, ["busybox"]],
    [["-d", "busybox"], { detach: true }, ["busybox"]],
    [["--detach", "--rm", "busybox"], { detach: true, rm: true }, ["busybox"]],
    [["--detach=false", "busybox"], { detach: false }, ["busybox"]],
    [["-d=false", "busybox"], { detach: false }, ["busybox"]],
    [["--name", "web", "busybox"], { name: "web" }, ["busybox"]],
    [["--name=web", "busybox"], { name: "web" }, ["busybox"]],
    [["--name=", "busybox"], { name: "" }, ["busybox"]],
    [["-e", "A=1", "-eB=2", "--env", "C=3", "--env=D=4", "-e=E=5", "x"], {
      env: ["A=1", "B=2", "C=3", "D=4", "E=5"],
    }, ["x"]],
    [["-de", "A=1", "x"], { detach: true, env: ["A=1"] }, ["x"]],
    [["-h", "box", "x"], { hostname: "box" }, ["x"]],
    [["-m32m", "x"], { memory: "32m" }, ["x"]],
    [["--pids-limit", "-1", "x"], { "pids-limit": -1 }, ["x"]],
    [["busybox", "ls", "-l", "--name", "x"], {}, ["busybox", "ls", "-l", "--name", "x"]],
    [["-d", "busybox", "-d"], { detach: true }, ["busybox", "-d"]],
    [["--", "-weird-image", "-l"], {}, ["-weird-image", "-l"]],
    [["-l", "a=b", "-l", "c=d", "x"], { label: ["a=b", "c=d"] }, ["x"]],
  ];
  for (const [argv, want, args] of cases) {
    const p = parseArgs(runLike, argv, "run");
    const got: Record<string, unknown> = {};
    for (const f of runLike.flags) {
      if (!p.has(f.name)) continue;
      got[f.name] = f.kind === "bool"
        ? p.bool(f.name)
        : f.kind === "list"
        ? p.list(f.name)
        : f.kind === "int"
        ? p.int(f.name)
        : p.string(f.name);
    }
    assertEquals(got, want, argv.join(" "));
    assertEquals(p.args, args, argv.join(" "));
    assertEquals(p.help, false);
  }
});

Deno.test("parseArgs accepts flags between arguments for commands without a trailing command", () => {
  const p = parseArgs(rmLike, ["a", "-f", "b"], "rm");
  assertEquals(p.args, ["a", "b"]);
  assertEquals(p.bool("force"), true);
  const q = parseArgs(psLike, ["-aq", "-f", "status=running", "--filter=name=x", "-t", "5"], "ps");
  assertEquals([q.bool("all"), q.bool("quiet"), q.list("filter"), q.int("time")], [
    true,
    true,
    ["status=running", "name=x"],
    5,
  ]);
});

Deno.test("parseArgs sees help as --help everywhere and -h where the command leaves it free", () => {
  assertEquals(parseArgs(psLike, ["-h"], "ps").help, true);
  assertEquals(parseArgs(psLike, ["--help"], "ps").help, true);
  assertEquals(parseArgs(rmLike, ["--help"], "rm").help, true, "help skips the argument count");
  assertEquals(parseArgs(runLike, ["--help"], "run").help, true);
  assertEquals(parseArgs(runLike, ["-h", "x", "img"], "run").help, false);
});

Deno.test("parseArgs rejects mistakes with one-line docker-worded errors", () => {
  const exactly = (n: number): CommandSpec => ({ ...rmLike, args: { min: n, max: n } });
  const cases: [string, CommandSpec, string[], string][] = [
    ["run", runLike, ["--foo", "x"], "unknown flag: --foo"],
    ["run", runLike, ["--foo=1", "x"], "unknown flag: --foo"],
    ["run", runLike, ["-it", "x"], "unknown shorthand flag: 'i' in -it"],
    ["ps", psLike, ["-az"], "unknown shorthand flag: 'z' in -az"],
    ["run", runLike, ["--name"], "flag needs an argument: --name"],
    ["run", runLike, ["-e"], "flag needs an argument: 'e' in -e"],
    [
      "run",
      runLike,
      ["--pids-limit", "ten", "x"],
      'invalid argument "ten" for "--pids-limit" flag: not an integer',
    ],
    ["ps", psLike, ["-t", "1.5"], 'invalid argument "1.5" for "-t, --time" flag: not an integer'],
    [
      "run",
      runLike,
      ["--rm=maybe", "x"],
      'invalid argument "maybe" for "--rm" flag: not a boolean',
    ],
    ["run", runLike, [], '"polis run" requires at least 1 argument'],
    ["rm", rmLike, [], '"polis rm" requires at least 1 argument'],
    ["ps", psLike, ["extra"], '"polis ps" accepts no arguments'],
    ["tag", exactly(2), ["a"], '"polis tag" requires exactly 2 arguments'],
    ["logs", exactly(1), ["a", "b"], '"polis logs" requires exactly 1 argument'],
    [
      "load",
      { ...rmLike, args: { min: 0, max: 1 } },
      ["a", "b"],
      '"polis load" accepts at most 1 argument',
    ],
  ];
  for (const [cmd, spec, argv, message] of cases) {
    throws(() => parseArgs(spec, argv, cmd), (e: unknown) => {
      assertEquals(e instanceof UsageError, true);
      assertEquals((e as Error).message, message, argv.join(" "));
      return true;
    });
  }
});

Deno.test("reading a flag the spec does not declare is a programming error", () => {
  const p = parseArgs(psLike, [], "ps");
  throws(() => p.bool("nope"), /no bool flag --nope/);
  throws(() => p.string("all"), /no string flag --all/);
});
