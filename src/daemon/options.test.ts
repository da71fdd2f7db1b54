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
    registryMirrors: [],
    insecureRegistries: [],
    firewallBackend: "auto",
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

Deno.test("registry mirrors and insecure registries: repeatable flags over the env lists", () => {
  const env = (k: string) =>
    ({
      POLIS_REGISTRY_MIRRORS: "https://env-mirror.example, http://127.0.0.1:5001/",
      POLIS_INSECURE_REGISTRIES: "env.example:5000",
    })[k];
  const fromEnv = parseDaemonArgs([], env);
  if (fromEnv === "help") throw new Error("help");
  assertEquals(fromEnv.registryMirrors, ["https://env-mirror.example", "http://127.0.0.1:5001"]);
  assertEquals(fromEnv.insecureRegistries, ["env.example:5000"]);
  const o = parseDaemonArgs([
    "--registry-mirror",
    "http://127.0.0.1:5000",
    "--registry-mirror=https://m2.example:443/",
    "--insecure-registry",
    "10.0.0.5:5000",
    "--insecure-registry=[fd00::1]:5000",
  ], env);
  if (o === "help") throw new Error("help");
  assertEquals(o.registryMirrors, ["http://127.0.0.1:5000", "https://m2.example"]);
  assertEquals(o.insecureRegistries, ["10.0.0.5:5000", "[fd00::1]:5000"]);
  throws(
    () => parseDaemonArgs(["--registry-mirror", "mirror.example"], noEnv),
    /invalid --registry-mirror "mirror.example"/,
  );
  throws(
    () => parseDaemonArgs(["--registry-mirror", "ftp://x"], noEnv),
    /invalid --registry-mirror/,
  );
  throws(
    () => parseDaemonArgs(["--insecure-registry", "http://x:5000"], noEnv),
    /invalid --insecure-registry/,
  );
});

Deno.test("daemon refuses unknown flags, bad tcp and relative paths", () => {
  throws(() => parseDaemonArgs(["--bogus"], noEnv), /unknown flag: --bogus/);
  throws(() => parseDaemonArgs(["--tcp", "nope"], noEnv), /invalid --tcp/);
  throws(() => parseDaemonArgs(["--root", "rel"], noEnv), /absolute path/);
  throws(() => parseDaemonArgs(["--socket"], noEnv), /needs an argument/);
  throws(() => parseDaemonArgs(["--bridge", "a-name-far-too-long"], noEnv), /invalid --bridge/);
});

Deno.test("the firewall backend comes from --firewall-backend, else POLIS_FIREWALL_BACKEND", () => {
  const env = (k: string) => ({ POLIS_FIREWALL_BACKEND: "proxy" })[k];
  const pick = (args: string[], e = noEnv as (k: string) => string | undefined) => {
    const o = parseDaemonArgs(args, e);
    return o === "help" ? "help" : o.firewallBackend;
  };
  assertEquals(pick(["--firewall-backend", "iptables"], env), "iptables");
  assertEquals(pick([], env), "proxy");
  assertEquals(pick(["--firewall-backend=nft"]), "nft");
  throws(() => pick(["--firewall-backend", "ipfw"]), /invalid --firewall-backend "ipfw"/);
});
