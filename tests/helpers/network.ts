/**
 * What the network integration tests share: user networks that are removed with their bridges
 * when the test ends (also on failure), busybox containers started on them (a sleeper, an httpd
 * serving `/hostname`), one-shot containers probing whether one address reaches another (ping,
 * HTTP over nc, UDP counters), polling on the host, the daemon's JSON API, and listings of the
 * kernel's nft and iptables rules. Names come from `uniqueTag()` so parallel test processes
 * never meet; traffic goes only to 127.0.0.1 and to containers on networks the test made.
 * @module
 */

import dgram from "node:dgram";
import { Rtnl } from "../../ffi/mod.ts";
import { allocTestBridge, type CliResult, type TestDaemon } from "./daemon.ts";
import { rootTest, withTestDaemon } from "./fixture.ts";

export { freePort } from "./registry.ts";

/** A short random tag for the names (networks, containers) one test file makes. */
export function uniqueTag(): string {
  return crypto.randomUUID().slice(0, 6);
}

/** The host name of a user network's bridge, from the network's id. */
export function bridgeOf(networkId: string): string {
  return `pbr-${networkId.slice(0, 11)}`;
}

/** Link names on this host (to check that what a test made is gone). */
export function hostLinks(): string[] {
  using nl = new Rtnl();
  return nl.listLinks().map((l) => l.name);
}

/**
 * User networks a test creates, removed when it ends: `await using nets = new TestNetworks(d)`
 * (or `cleanup()` in a `finally`) removes the containers named with `removeLater`, then the
 * networks, then their bridges on the host, even where the daemon no longer could.
 */
export class TestNetworks implements AsyncDisposable {
  /** The bridges of the networks made so far, in creation order. */
  readonly bridges: string[] = [];
  readonly #names: string[] = [];
  readonly #containers: string[] = [];

  constructor(readonly d: TestDaemon) {}

  /** `polis network create FLAGS… NAME`; returns the network's id. */
  async create(name: string, flags: readonly string[] = []): Promise<string> {
    this.#names.push(name);
    const id = (await this.d.ok(["network", "create", ...flags, name])).trim();
    this.bridges.push(bridgeOf(id));
    return id;
  }

  /** Records a network made another way (the API) so that cleanup removes it too. */
  adopt(name: string, id: string): void {
    this.#names.push(name);
    this.bridges.push(bridgeOf(id));
  }

  /** Containers (names or ids) that cleanup force-removes before the networks. */
  removeLater(...containers: string[]): void {
    this.#containers.push(...containers);
  }

  async cleanup(): Promise<void> {
    // A step may have left the daemon stopped; what it holds is removed through it.
    if (!(await this.d.ping())) await this.d.start().catch(() => {});
    if (this.#containers.length) {
      await this.d.cli(["rm", "-f", ...this.#containers]).catch(() => {});
    }
    if (this.#names.length) await this.d.cli(["network", "rm", ...this.#names]).catch(() => {});
    using nl = new Rtnl();
    for (const b of this.bridges) nl.deleteLinkIfExists(b);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.cleanup();
  }
}

/** A container's settings on one network (`NetworkSettings.Networks.<net>`). */
export interface Endpoint {
  IPAddress: string;
  Gateway: string;
  MacAddress: string;
  Aliases?: string[];
  GlobalIPv6Address: string;
  GlobalIPv6PrefixLen: number;
  IPv6Gateway: string;
}

/** Every network a container is on, by name. */
export async function endpoints(d: TestDaemon, ref: string): Promise<Record<string, Endpoint>> {
  return JSON.parse(await d.ok(["inspect", "-f", "{{json .NetworkSettings.Networks}}", ref]));
}

/** The container's settings on `net`. */
export async function endpoint(d: TestDaemon, ref: string, net: string): Promise<Endpoint> {
  return (await endpoints(d, ref))[net];
}

/** A container's published ports (`NetworkSettings.Ports`): bindings by `PORT/PROTO`. */
export async function publishedPorts(
  d: TestDaemon,
  ref: string,
): Promise<Record<string, { HostIp: string; HostPort: string }[]>> {
  return JSON.parse(await d.ok(["inspect", "-f", "{{json .NetworkSettings.Ports}}", ref]));
}

/** `polis network inspect NET`, the one network's object. */
// deno-lint-ignore no-explicit-any
export async function inspectNetwork(d: TestDaemon, net: string): Promise<any> {
  return JSON.parse(await d.ok(["network", "inspect", net]))[0];
}

/** The network's IPv4 subnet and gateway (its first IPAM config). */
export async function ipamOf(
  d: TestDaemon,
  net: string,
): Promise<{ Subnet: string; Gateway: string }> {
  return (await inspectNetwork(d, net)).IPAM.Config[0];
}

/** How to start a detached busybox container on a network. */
export interface DetachedOptions {
  network: string;
  name?: string;
  hostname?: string;
  /** `-p` values. */
  publish?: string[];
  /** More `run` flags, before the image. */
  flags?: string[];
}

/** `polis run -d … busybox CMD…`; returns the id and its settings on `network`. */
export async function runDetached(
  d: TestDaemon,
  o: DetachedOptions,
  cmd: string[],
): Promise<{ id: string; ip: string; endpoint: Endpoint }> {
  const id = (await d.ok([
    "run",
    "-d",
    ...(o.name ? ["--name", o.name] : []),
    ...(o.hostname ? ["--hostname", o.hostname] : []),
    "--network",
    o.network,
    ...(o.publish ?? []).flatMap((p) => ["-p", p]),
    ...(o.flags ?? []),
    "busybox",
    ...cmd,
  ])).trim();
  const ep = await endpoint(d, id, o.network);
  return { id, ip: ep.IPAddress, endpoint: ep };
}

/** A busybox container that sleeps for five minutes: a peer to reach. */
export function runSleeper(d: TestDaemon, o: DetachedOptions) {
  return runDetached(d, o, ["sleep", "300"]);
}

/** A busybox httpd on port 80 serving /etc, so `GET /hostname` answers its hostname. */
export function runWebServer(d: TestDaemon, o: DetachedOptions) {
  return runDetached(d, o, ["httpd", "-f", "-p", "80", "-h", "/etc"]);
}

/**
 * `polis run --rm --network NET FLAGS… busybox CMD` (a string runs under `sh -c`), with its exit
 * code and output whatever they are.
 */
export function runOn(
  d: TestDaemon,
  net: string,
  cmd: string | string[],
  flags: string[] = [],
): Promise<CliResult> {
  const argv = typeof cmd === "string" ? ["sh", "-c", cmd] : cmd;
  return d.cli(["run", "--rm", "--network", net, ...flags, "busybox", ...argv]);
}

/** Like runOn, but fails unless the container exits 0; returns its output. */
export async function runOnOk(
  d: TestDaemon,
  net: string,
  cmd: string | string[],
  flags: string[] = [],
): Promise<string> {
  const r = await runOn(d, net, cmd, flags);
  if (r.code !== 0) {
    throw new Error(
      `run on ${net} ${JSON.stringify(cmd)} exited ${r.code}\n${r.stdout}${r.stderr}`,
    );
  }
  return r.stdout;
}

/** One ping from a fresh container on `net` to `ip`, waiting `waitSeconds` for the answer. */
export function pingFrom(d: TestDaemon, net: string, ip: string, waitSeconds = 1) {
  return runOn(d, net, ["ping", "-c1", `-W${waitSeconds}`, ip]);
}

/** A shell line that sends `GET path` to host:port with nc and prints the answer's last line. */
export function ncGet(host: string, port: number, path = "/hostname", waitSeconds = 2): string {
  return `printf "GET ${path} HTTP/1.0\\r\\n\\r\\n" | nc -w ${waitSeconds} ${host} ${port} | tail -1`;
}

/**
 * GET /hostname from host:port in a fresh container on `net`, tried up to five times (a port
 * mapping or server may still be settling); stdout is the body's last line, exit 1 when no
 * try got one.
 */
export function fetchFromContainer(d: TestDaemon, net: string, host: string, port: number) {
  return runOn(
    d,
    net,
    `for i in 1 2 3 4 5; do ${ncGet(host, port)} | grep . && exit 0; sleep 0.3; done; exit 1`,
  );
}

/** Polls `fn` until it returns a value (not undefined), or fails naming `what` after `ms`. */
export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined>,
  ms = 10_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const v = await fn();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** The body of the first successful (2xx) GET of `url` from the host, polled for up to `ms`. */
export function fetchText(url: string, ms = 10_000): Promise<string> {
  return waitFor(url, async () => {
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(1000) });
      const text = await r.text();
      return r.ok ? text : undefined;
    } catch {
      return undefined;
    }
  }, ms);
}

/**
 * Proves that a datagram sent from the host to 127.0.0.1:hostPort arrives in a new container on
 * `net` that publishes it as its port 7777/udp. busybox has no UDP server, so the container
 * reports its kernel's UDP counters and a datagram to a port nobody listens on counts as
 * NoPorts inside its namespace. Returns the container's id (left running).
 */
export async function udpReachesContainer(
  d: TestDaemon,
  net: string,
  hostPort: number,
): Promise<string> {
  const id = (await d.ok([
    "run",
    "-d",
    "--network",
    net,
    "-p",
    `127.0.0.1:${hostPort}:7777/udp`,
    "busybox",
    "sh",
    "-c",
    `while :; do awk '/^Udp:/{n++} n==2{print "udp-noports", $3; exit}' /proc/net/snmp; sleep 0.2; done`,
  ])).trim();
  const noPorts = async () => {
    const lines = (await d.ok(["logs", "--tail", "1", id])).trim().split("\n");
    const m = /udp-noports (\d+)/.exec(lines.at(-1) ?? "");
    return m ? Number(m[1]) : undefined;
  };
  const before = await waitFor("the counters", noPorts);
  const s = dgram.createSocket("udp4");
  s.on("error", () => {}); // ICMP port unreachable coming back, as expected
  try {
    await waitFor("a datagram in the container", async () => {
      await new Promise<void>((r) => s.send("ping", hostPort, "127.0.0.1", () => r()));
      const n = await noPorts();
      return n !== undefined && n > before ? n : undefined;
    });
  } finally {
    s.close();
  }
  return id;
}

/** The answer of the daemon's HTTP API: status and parsed JSON body (undefined when empty). */
export interface ApiResult {
  status: number;
  // deno-lint-ignore no-explicit-any
  json: any;
}

/** One request to the daemon's API (`/v1` + path) with an optional JSON body. */
export async function api(
  d: TestDaemon,
  method: string,
  path: string,
  body?: unknown,
): Promise<ApiResult> {
  const client = Deno.createHttpClient({ proxy: { transport: "unix", path: d.socket } });
  try {
    const r = await fetch(`http://127.0.0.1/v1${path}`, {
      method,
      client,
      headers: body ? { "content-type": "application/json" } : {},
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await r.text();
    return { status: r.status, json: text ? JSON.parse(text) : undefined };
  } finally {
    client.close();
  }
}

function commandOutput(cmd: string, args: string[]): { ok: boolean; text: string } {
  const out = new Deno.Command(cmd, { args, stdout: "piped", stderr: "null" }).outputSync();
  return { ok: out.success, text: new TextDecoder().decode(out.stdout) };
}

/** `nft list table FAMILY NAME`, or undefined when there is no such table. */
export function nftTable(family: "ip" | "ip6" | "bridge", name: string): string | undefined {
  const r = commandOutput("nft", ["list", "table", family, name]);
  return r.ok ? r.text : undefined;
}

/** Deletes an nft table if it is there (cleanup of a daemon's own tables). */
export function deleteNftTable(family: "ip" | "ip6" | "bridge", name: string): void {
  commandOutput("nft", ["delete", "table", family, name]);
}

/** `nft list ruleset FAMILY`: every table of the family. */
export function nftRuleset(family: "ip" | "ip6" | "bridge"): string {
  return commandOutput("nft", ["list", "ruleset", family]).text;
}

/**
 * Every line of `iptables-save` (or `ip6tables-save`) naming chains that start with `prefix-`:
 * their declarations, the jumps into them and their rules.
 */
export function iptablesLines(
  prefix: string,
  tool: "iptables-save" | "ip6tables-save" = "iptables-save",
): string[] {
  return commandOutput(tool, []).text.split("\n").filter((l) => l.includes(`${prefix}-`));
}

/** A test bridge and its subnet from allocTestBridge, for a daemon's default network. */
export interface DefaultBridge {
  bridge: string;
  subnet: string;
}

/**
 * Registers a test with a daemon of its own whose default network is a real bridge on a subnet
 * no other test process holds; the bridge is deleted and the subnet released afterwards.
 */
export function defaultBridgeTest(
  name: string,
  fn: (d: TestDaemon, net: DefaultBridge, t: Deno.TestContext) => Promise<void>,
): void {
  rootTest(name, async (t) => {
    const net = allocTestBridge();
    try {
      await withTestDaemon(
        name,
        { defaultNetwork: "bridge", bridge: net.bridge, bridgeSubnet: net.subnet },
        (d) => fn(d, net, t),
      );
    } finally {
      // The default bridge belongs to the daemon's root; remove it like `network rm` would.
      using nl = new Rtnl();
      nl.deleteLinkIfExists(net.bridge);
      net.release();
    }
  });
}
