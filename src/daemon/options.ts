/**
 * `polis daemon` options: flags over environment over defaults. Pure.
 * @module
 */

import { PolisError } from "../core/mod.ts";

export interface DaemonOptions {
  root: string;
  runDir: string;
  socket: string;
  tcp?: { hostname: string; port: number };
  cgroupParent: string;
  storageDriver: "overlay" | "copy" | "auto";
  /** Pull only from registries on this machine. */
  offline: boolean;
  /** Network of containers created without --network (docker's default: "bridge"). */
  defaultNetwork: string;
  /** Device name and subnet of the default bridge network. */
  bridge?: string;
  bridgeSubnet?: string;
  /** Base URLs of docker.io mirrors, tried in order before Docker Hub. */
  registryMirrors: string[];
  /** `host[:port]` of registries reached over plain HTTP (loopback always is). */
  insecureRegistries: string[];
  /** Where isolation, NAT, firewall rules and published ports live (default auto). */
  firewallBackend: "auto" | "nft" | "iptables" | "proxy";
}

export const DAEMON_USAGE = `Usage:  polis daemon [OPTIONS]

Run the Polis daemon: serves the API on a unix socket and runs containers.

Options:
      --root DIR             persistent state (default /var/lib/polis, env POLIS_ROOT)
      --run-dir DIR          volatile state (default /run/polis, env POLIS_RUN_DIR)
      --socket PATH          unix socket (default <run-dir>/polis.sock, env POLIS_SOCKET)
      --tcp HOST:PORT        also serve the API on TCP (no auth: bind to loopback)
      --cgroup-parent PATH   parent cgroup for containers (default "polis", relative to the
                             daemon's own cgroup; env POLIS_CGROUP_PARENT)
      --storage-driver D     overlay, copy or auto (default auto)
      --offline              pull only from registries on this machine (loopback); env
                             POLIS_OFFLINE=1
      --default-network N    network of containers run without --network (default bridge;
                             none, host or a network name)
      --bridge DEV           device of the default bridge network (default polis0)
      --bridge-subnet CIDR   subnet of the default bridge network (default 10.231.0.0/16)
      --registry-mirror URL  a docker.io mirror tried before Docker Hub (repeatable; env
                             POLIS_REGISTRY_MIRRORS, comma-separated)
      --insecure-registry HOST[:PORT]
                             a registry reached over plain HTTP (repeatable; env
                             POLIS_INSECURE_REGISTRIES, comma-separated)
      --firewall-backend B   nft, iptables, proxy (published ports through the daemon, no
                             kernel rules) or auto: nft, else iptables, else proxy (default;
                             env POLIS_FIREWALL_BACKEND)
  -h, --help                 print this help
`;

const VALUE_FLAGS = new Set([
  "--root",
  "--run-dir",
  "--socket",
  "--tcp",
  "--cgroup-parent",
  "--storage-driver",
  "--default-network",
  "--bridge",
  "--bridge-subnet",
  "--registry-mirror",
  "--insecure-registry",
  "--firewall-backend",
]);

/** Flags that may be given more than once; each adds to a list. */
const LIST_FLAGS = new Set(["--registry-mirror", "--insecure-registry"]);

const commaList = (v: string | undefined) =>
  (v ?? "").split(",").map((s) => s.trim()).filter((s) => s !== "");

export function parseDaemonArgs(
  args: string[],
  env: (k: string) => string | undefined,
): DaemonOptions | "help" {
  const flags = new Map<string, string>();
  const lists = new Map<string, string[]>();
  let offline = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "-h" || a === "--help") return "help";
    if (a === "--offline") {
      offline = true;
      continue;
    }
    const eq = a.indexOf("=");
    const name = eq > 0 ? a.slice(0, eq) : a;
    if (!VALUE_FLAGS.has(name)) {
      throw PolisError.invalid(
        a.startsWith("-") ? `unknown flag: ${name}` : `unexpected argument "${a}"`,
      );
    }
    const value = eq > 0 ? a.slice(eq + 1) : args[++i];
    if (value === undefined || value === "") {
      throw PolisError.invalid(`flag needs an argument: ${name}`);
    }
    if (LIST_FLAGS.has(name)) lists.set(name, [...(lists.get(name) ?? []), value]);
    else flags.set(name, value);
  }
  const runDir = flags.get("--run-dir") ?? env("POLIS_RUN_DIR") ?? "/run/polis";
  const opts: DaemonOptions = {
    root: flags.get("--root") ?? env("POLIS_ROOT") ?? "/var/lib/polis",
    runDir,
    socket: flags.get("--socket") ?? env("POLIS_SOCKET") ?? `${runDir}/polis.sock`,
    cgroupParent: flags.get("--cgroup-parent") ?? env("POLIS_CGROUP_PARENT") ?? "polis",
    storageDriver: "auto",
    offline: offline || env("POLIS_OFFLINE") === "1",
    defaultNetwork: flags.get("--default-network") ?? env("POLIS_DEFAULT_NETWORK") ?? "bridge",
    bridge: flags.get("--bridge"),
    bridgeSubnet: flags.get("--bridge-subnet"),
    registryMirrors: lists.get("--registry-mirror") ?? commaList(env("POLIS_REGISTRY_MIRRORS")),
    insecureRegistries: lists.get("--insecure-registry") ??
      commaList(env("POLIS_INSECURE_REGISTRIES")),
    firewallBackend: "auto",
  };
  opts.registryMirrors = opts.registryMirrors.map((m) => {
    let url: URL | undefined;
    try {
      url = new URL(m);
    } catch {
      // reported below
    }
    if (!url || (url.protocol !== "http:" && url.protocol !== "https:") || url.search) {
      throw PolisError.invalid(`invalid --registry-mirror "${m}": use http(s)://HOST[:PORT]`);
    }
    return url.href.replace(/\/+$/, "");
  });
  for (const h of opts.insecureRegistries) {
    if (!/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/.test(h)) {
      throw PolisError.invalid(`invalid --insecure-registry "${h}": use HOST[:PORT]`);
    }
  }
  if (opts.bridge !== undefined && !/^[a-zA-Z0-9_.-]{1,15}$/.test(opts.bridge)) {
    throw PolisError.invalid(`invalid --bridge "${opts.bridge}": a device name of 1-15 characters`);
  }
  const driver = flags.get("--storage-driver");
  if (driver !== undefined) {
    if (driver !== "overlay" && driver !== "copy" && driver !== "auto") {
      throw PolisError.invalid(`invalid --storage-driver "${driver}": use overlay, copy or auto`);
    }
    opts.storageDriver = driver;
  }
  const fw = flags.get("--firewall-backend") ?? env("POLIS_FIREWALL_BACKEND") ?? "auto";
  if (fw !== "auto" && fw !== "nft" && fw !== "iptables" && fw !== "proxy") {
    throw PolisError.invalid(
      `invalid --firewall-backend "${fw}": use nft, iptables, proxy or auto`,
    );
  }
  opts.firewallBackend = fw;
  const tcp = flags.get("--tcp");
  if (tcp !== undefined) {
    const m = /^(.*):(\d{1,5})$/.exec(tcp);
    const port = m ? Number(m[2]) : NaN;
    if (!m || port < 1 || port > 65535) {
      throw PolisError.invalid(`invalid --tcp "${tcp}": use HOST:PORT`);
    }
    opts.tcp = { hostname: m[1] || "127.0.0.1", port };
  }
  for (
    const [k, v] of [["--root", opts.root], ["--run-dir", opts.runDir], ["--socket", opts.socket]]
  ) {
    if (!v.startsWith("/")) throw PolisError.invalid(`${k} must be an absolute path, got "${v}"`);
  }
  return opts;
}

/**
 * V8 flags the daemon should run with (`deno run --v8-flags=…`; baked into a compiled
 * binary). The daemon waits on the kernel, the disk and the network far more than it runs
 * JS, so memory wins over peak JS speed:
 * - a 1 MiB semi-space instead of V8's default of up to 16 MiB keeps the young generation,
 *   and the buffers a pull or a log stream leaves in it, small (idle RSS 97 -> 76 MiB);
 * - no optimizing compilers (TurboFan, Maglev; the Sparkplug baseline stays): their code
 *   and compile-time zones were most of what a pull added to the daemon (peak RSS during
 *   a ~100 MB pull 86.8 -> 77.4 MiB, idle after 100 container starts 94 -> 85 MiB, same
 *   bench run and machine; the pull took 0.67 -> 0.71x of skopeo+umoci's time).
 */
export const DAEMON_V8_FLAGS = "--max-semi-space-size=1,--no-turbofan,--no-maglev";
