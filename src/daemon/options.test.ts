import { deepStrictEqual as assertEquals, throws } from "node:assert/strict";
import { parseDaemonArgs } from "./options.ts";

const noEnv = () => undefined;

Deno.test("daemon options default to /var/lib/polis and /run/polis", () => {
  const o = parseDaemonArgs([], noEnv);
  assertEquals(o, {
    root: "/var/lib/polis",
    runDir: "/run/polis",
    socket: "/run/polis/polis.sock",
    cgroupParent: "polis",
    storageDriver: "auto",
    offline: false,
    defaultNetwork: "bridge",
    bridge: undefined,
    bridgeSubnet: undefined,
  });
  const off = parseDaemonArgs(["--offline"], noEnv);
  assertEquals(off !== "help" && off.offline, true);
});

Deno.test("daemon flags win over environment", () => {
  const env = (k: string) => ({ POLIS_ROOT: "/env/root", POLIS_SOCKET: "/env/s.sock" })[k];
  const o = parseDaemonArgs(["--root=/flag/root", "--tcp", "127.0.0.1:2375"], env);
  if (o === "help") throw new Error("help");
  assertEquals(o.root, "/flag/root");
  assertEquals(o.socket, "/env/s.sock");
  assertEquals(o.tcp, { hostname: "127.0.0.1", port: 2375 });
});

Deno.test("daemon refuses unknown flags, bad tcp and relative paths", () => {
  throws(() => parseDaemonArgs(["--bogus"], noEnv), /unknown flag: --bogus/);
  throws(() => parseDaemonArgs(["--tcp", "nope"], noEnv), /invalid --tcp/);
  throws(() => parseDaemonArgs(["--root", "rel"], noEnv), /absolute path/);
  throws(() => parseDaemonArgs(["--socket"], noEnv), /needs an argument/);
  throws(() => parseDaemonArgs(["--bridge", "a-name-far-too-long"], noEnv), /invalid --bridge/);
});
