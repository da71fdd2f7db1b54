import { deepStrictEqual as eq, throws } from "node:assert/strict";
import { PolisError } from "../core/errors.ts";
import {
  DEFAULT_PATH,
  type ImageConfig,
  type ProcessOverrides,
  resolveProcess,
} from "./process.ts";

const IMG: ImageConfig = {
  Entrypoint: ["/entry.sh"],
  Cmd: ["serve", "--port", "80"],
  Env: ["PATH=/app/bin:/bin", "MODE=prod", "EMPTY="],
  WorkingDir: "/app",
  User: "app",
};

Deno.test("resolveProcess applies overrides exactly as docker run does", () => {
  const cases: [
    string,
    ImageConfig,
    ProcessOverrides,
    Partial<ReturnType<typeof resolveProcess>>,
  ][] = [
    ["image defaults", IMG, {}, {
      args: ["/entry.sh", "serve", "--port", "80"],
      cwd: "/app",
      user: "app",
    }],
    ["cmd override keeps the entrypoint", IMG, { cmd: ["debug"] }, {
      args: ["/entry.sh", "debug"],
    }],
    ["an empty cmd means not given", IMG, { cmd: [] }, {
      args: ["/entry.sh", "serve", "--port", "80"],
    }],
    ["entrypoint override drops the image cmd", IMG, { entrypoint: ["/bin/sh"] }, {
      args: ["/bin/sh"],
    }],
    ["entrypoint and cmd override together", IMG, {
      entrypoint: ["/bin/sh"],
      cmd: ["-c", "id"],
    }, { args: ["/bin/sh", "-c", "id"] }],
    ['--entrypoint "" clears it, cmd stays user-given', IMG, {
      entrypoint: [""],
      cmd: ["echo", "x"],
    }, { args: ["echo", "x"] }],
    ["[] entrypoint clears too", IMG, { entrypoint: [], cmd: ["true"] }, { args: ["true"] }],
    ["no entrypoint: cmd alone", { Cmd: ["sh"] }, {}, { args: ["sh"], cwd: "/", user: "" }],
    ["null entrypoint and cmd from JSON", { Cmd: ["sh"], Entrypoint: null }, { cmd: ["ls"] }, {
      args: ["ls"],
    }],
    ["workdir and user overrides", IMG, { workingDir: "/tmp", user: "0:0" }, {
      cwd: "/tmp",
      user: "0:0",
    }],
    ["empty user and workdir overrides mean not given", IMG, { workingDir: "", user: "" }, {
      cwd: "/app",
      user: "app",
    }],
    ["relative image WorkingDir is taken from /", { Cmd: ["x"], WorkingDir: "srv" }, {}, {
      cwd: "/srv",
    }],
  ];
  for (const [name, image, o, want] of cases) {
    const got = resolveProcess(image, o);
    for (const k of Object.keys(want) as (keyof typeof want)[]) eq(got[k], want[k], name);
  }
});

Deno.test("resolveProcess overlays env by key, unsets bare keys and defaults PATH", () => {
  eq(resolveProcess(IMG, { env: ["MODE=dev", "NEW=1", "EMPTY"] }).env, [
    "PATH=/app/bin:/bin",
    "MODE=dev",
    "NEW=1",
  ]);
  eq(resolveProcess({ Cmd: ["sh"] }, { env: ["A=b=c"] }).env, [`PATH=${DEFAULT_PATH}`, "A=b=c"]);
  eq(resolveProcess({ Cmd: ["sh"], Env: ["PATH=/x"] }, { env: ["PATH"] }).env, [
    `PATH=${DEFAULT_PATH}`,
  ]);
});

Deno.test("resolveProcess refuses an empty command and a relative working dir", () => {
  const invalid = (msg: RegExp) => (e: unknown) =>
    e instanceof PolisError && e.code === "invalid_argument" && msg.test(e.message);
  throws(() => resolveProcess({}, {}), invalid(/^no command specified$/));
  throws(() => resolveProcess(IMG, { entrypoint: [""] }), invalid(/no command specified/));
  throws(() => resolveProcess(IMG, { workingDir: "rel" }), invalid(/absolute path/));
});
