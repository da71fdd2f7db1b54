/**
 * Networks as the engine sees them: the network verbs of the API, and the hooks a container's
 * life calls — resolve `--network` at create and allocate its address, write its /etc files
 * at start, connect it between runtime create and start (using its init's pid), disconnect it
 * at exit and release its address at rm. The kernel work is `src/network`'s bridge driver.
 * @module
 */

import type { DatabaseSync } from "node:sqlite";
import { logger, PolisError, writeFileAtomicSync } from "../core/mod.ts";
import {
  allowLocalnet,
  BridgeDriver,
  type Endpoint,
  hostForwarding,
  hostnameFile,
  hostsFile,
  type NetworkRecord,
  NetworkStore,
  NftNetworkRules,
  NftPorts,
  nftTableName,
  parsePublish,
  parseSubnet,
  pickSubnet,
  type PortMapping,
  resolvConf,
  subnetText,
} from "../network/mod.ts";
import type { ExtraMount } from "./spec.ts";
import type { EndpointSettings, NetworkApi, NetworkCreateSpec, NetworkInspect } from "./types.ts";

export interface NetworkingOptions {
  /** Subnet of the default bridge network (default 10.231.0.0/16). */
  defaultSubnet?: string;
  /** Device name of the default bridge (default polis0). */
  defaultBridge?: string;
  /** Where `network create` without --subnet takes a /24 from (default 10.232.0.0/14). */
  pool?: string;
  /** The daemon's root: names its nftables table. */
  root?: string;
  /**
   * Route containers' traffic out of the host (with masquerade). Default: only when the
   * host already forwards IPv4 (net.ipv4.ip_forward=1); Polis never changes that setting.
   */
  egress?: boolean;
}

export const DEFAULT_NETWORK = "bridge";
export const DEFAULT_BRIDGE = "polis0";
export const DEFAULT_SUBNET = "10.231.0.0/16";
export const DEFAULT_POOL = "10.232.0.0/14";
const PREDEFINED = ["bridge", "host", "none"];
/** A fixed id for the default network, so it reads the same on every daemon. */
const DEFAULT_NETWORK_ID = "b".repeat(8) + "0".repeat(56);

/** What a container record carries that networking needs. */
export interface NetContainer {
  id: string;
  name: string;
  config: { hostname: string; networkMode: string; spec: { ip?: string; publish?: string[] } };
}

export class Networking implements NetworkApi {
  readonly store: NetworkStore;
  readonly driver = new BridgeDriver();
  readonly #pool: string;
  readonly ports: NftPorts;
  /** Isolation and outbound NAT rules (table `<ports table>_net`). */
  readonly nat: NftNetworkRules;

  constructor(db: DatabaseSync, readonly opts: NetworkingOptions = {}) {
    this.store = new NetworkStore(db);
    this.#pool = opts.pool ?? DEFAULT_POOL;
    this.ports = new NftPorts(nftTableName(opts.root ?? "/var/lib/polis"));
    this.nat = new NftNetworkRules(`${this.ports.table}_net`);
    if (!this.store.find(DEFAULT_NETWORK)) {
      this.store.create({
        id: DEFAULT_NETWORK_ID,
        name: DEFAULT_NETWORK,
        bridge: opts.defaultBridge ?? DEFAULT_BRIDGE,
        subnet: opts.defaultSubnet ?? DEFAULT_SUBNET,
      });
    }
    this.#syncQuiet();
  }

  close(): void {
    this.driver.close();
  }

  /**
   * Rewrites the isolation and NAT rules for the networks in use: every user-defined network,
   * and the default one while it has containers.
   */
  syncRules(): void {
    const nets = this.store.list().filter((n) =>
      n.name !== DEFAULT_NETWORK || this.store.endpointsOf(n.id).length > 0
    );
    this.nat.sync(nets, { egress: this.opts.egress ?? hostForwarding() });
  }

  #syncQuiet(): void {
    try {
      this.syncRules();
    } catch (e) {
      logger.warn("network rules", { error: String(e) });
    }
  }

  // ---- API --------------------------------------------------------------------------------

  createNetwork(spec: NetworkCreateSpec): Promise<{ Id: string; Warning: string }> {
    if (PREDEFINED.includes(spec.name)) {
      throw PolisError.conflict(`network with name ${spec.name} already exists`);
    }
    const host = this.driver.hostSubnets();
    let subnet = spec.subnet;
    if (subnet === undefined) {
      if (spec.gateway !== undefined) {
        throw PolisError.invalid("--gateway needs --subnet");
      }
      const taken = [
        ...this.store.list().map((n) => parseSubnet(n.subnet)),
        ...host.map((h) => h.subnet),
      ];
      const picked = pickSubnet(parseSubnet(this.#pool), 24, taken);
      if (!picked) {
        throw new PolisError(
          "unavailable",
          `no free subnet left in the pool ${this.#pool}: give one with --subnet`,
        );
      }
      subnet = subnetText(picked);
    }
    const net = this.store.create({
      name: spec.name,
      subnet,
      gateway: spec.gateway,
      internal: spec.internal,
      labels: spec.labels,
    }, host);
    try {
      this.driver.ensureBridge(net);
      this.syncRules();
    } catch (e) {
      try {
        this.driver.removeBridge(net);
      } finally {
        this.store.delete(net.id);
        this.#syncQuiet();
      }
      throw e;
    }
    return Promise.resolve({ Id: net.id, Warning: "" });
  }

  listNetworks(): NetworkInspect[] {
    return [
      ...this.store.list().map((n) => this.#inspect(n)),
      pseudo("host", "host"),
      pseudo("none", "null"),
    ];
  }

  inspectNetwork(ref: string): NetworkInspect {
    if (ref === "host") return pseudo("host", "host");
    if (ref === "none") return pseudo("none", "null");
    return this.#inspect(this.store.get(ref));
  }

  removeNetwork(ref: string): Promise<void> {
    if (PREDEFINED.includes(ref)) {
      throw PolisError.precondition(`${ref} is a pre-defined network and cannot be removed`);
    }
    const net = this.store.get(ref);
    if (net.name === DEFAULT_NETWORK) {
      throw PolisError.precondition(`${ref} is a pre-defined network and cannot be removed`);
    }
    const users = this.store.endpointsOf(net.id);
    if (users.length) this.store.delete(net.id); // throws the conflict, naming them
    this.driver.removeBridge(net);
    this.store.delete(net.id);
    this.syncRules();
    return Promise.resolve();
  }

  #inspect(n: NetworkRecord): NetworkInspect {
    const containers: NetworkInspect["Containers"] = {};
    for (const ep of this.store.endpointsOf(n.id)) {
      containers[ep.containerId] = {
        Name: this.containerName?.(ep.containerId) ?? "",
        EndpointID: endpointId(ep),
        MacAddress: ep.mac,
        IPv4Address: `${ep.address}/${ep.prefixLen}`,
        IPv6Address: "",
      };
    }
    return {
      Name: n.name,
      Id: n.id,
      Created: n.created,
      Scope: "local",
      Driver: "bridge",
      EnableIPv6: false,
      IPAM: { Driver: "default", Config: [{ Subnet: n.subnet, Gateway: n.gateway }] },
      Internal: n.internal,
      Containers: containers,
      Options: { "com.docker.network.bridge.name": n.bridge },
      Labels: n.labels,
    };
  }

  /** Set by the engine: a container's name for `network inspect`. */
  containerName?: (id: string) => string | undefined;

  // ---- container hooks --------------------------------------------------------------------

  /**
   * The network mode a create request asks for, checked: "none", "host", or a network's
   * canonical name. `--ip` only on user-defined networks, as docker.
   */
  resolveMode(spec: { networkMode?: string; ip?: string; publish?: string[] }): string {
    const m = spec.networkMode ?? "none";
    const ports = (spec.publish ?? []).flatMap(parsePublish);
    if (m === "none" || m === "host") {
      if (spec.ip !== undefined) {
        throw PolisError.invalid(`--ip needs a user-defined network, not --network ${m}`);
      }
      if (ports.length) {
        throw PolisError.invalid(`published ports need a bridge network, not --network ${m}`);
      }
      return m;
    }
    if (m.startsWith("container:")) {
      throw PolisError.invalid(`network mode "${m}" is not supported yet`);
    }
    const net = this.store.find(m);
    if (!net) throw PolisError.notFound(`network ${m} not found`);
    if (spec.ip !== undefined && net.name === DEFAULT_NETWORK) {
      throw PolisError.invalid(
        "user specified IP address is supported on user defined networks only",
      );
    }
    return net.name;
  }

  /** At create: reserve the container's address on its network. */
  allocate(c: NetContainer): void {
    const mode = c.config.networkMode;
    if (mode === "none" || mode === "host") return;
    const net = this.store.get(mode);
    this.store.allocate(net.id, c.id, c.config.spec.ip);
  }

  /** At rm: give the container's addresses back. */
  release(containerId: string): void {
    const eps = this.store.release(containerId);
    for (const ep of eps) this.#detachQuiet(ep);
    if (eps.length) this.#syncQuiet();
  }

  /** At start: writes /etc/hosts, /etc/hostname and /etc/resolv.conf; returns their mounts. */
  prepareFiles(c: NetContainer, dir: string): ExtraMount[] {
    const mode = c.config.networkMode;
    const ep = this.store.endpointsOfContainer(c.id)[0];
    const hostResolv = readOr("/etc/resolv.conf", "");
    const files: Record<string, string> = {
      hostname: hostnameFile(c.config.hostname),
      hosts: mode === "host"
        ? readOr("/etc/hosts", hostsFile({ hostname: c.config.hostname }))
        : hostsFile({
          hostname: c.config.hostname,
          address: ep?.address,
          aliases: ep ? [c.name] : [],
        }),
      "resolv.conf": mode === "host" ? hostResolv : resolvConf(hostResolv),
    };
    const mounts: ExtraMount[] = [];
    for (const [name, text] of Object.entries(files)) {
      const path = `${dir}/${name}`;
      writeFileAtomicSync(path, text, 0o644);
      mounts.push({
        destination: `/etc/${name}`,
        type: "bind",
        source: path,
        options: ["rbind", "rprivate"],
      });
    }
    return mounts;
  }

  /**
   * Between runtime create and start: connect the container whose init is `pid` (in its own
   * network namespace) to its network, or just bring its `lo` up.
   */
  async setup(c: NetContainer, pid: number): Promise<void> {
    const mode = c.config.networkMode;
    if (mode === "host") return;
    const netns = `/proc/${pid}/ns/net`;
    if (mode === "none") {
      await this.driver.loopbackUp(netns);
      return;
    }
    const ports = publishedPorts(c);
    this.syncRules();
    for (const [i, ep] of this.store.endpointsOfContainer(c.id).entries()) {
      const net = this.store.get(ep.networkId);
      await this.driver.attach(net, ep, netns);
      if (i === 0 && ports.length) {
        allowLocalnet(net.bridge);
        this.ports.add(ports, ep.address);
      }
    }
  }

  /** At exit (and after a failed start): unpublish ports, remove the container's veths. */
  teardown(c: NetContainer): void {
    const eps = this.store.endpointsOfContainer(c.id);
    try {
      if (eps[0]) this.ports.remove(publishedPorts(c), eps[0].address);
    } catch (e) {
      logger.warn("unpublish ports", { id: c.id, error: String(e) });
    }
    for (const ep of eps) this.#detachQuiet(ep);
  }

  /** inspect's NetworkSettings.Ports, docker's shape: {"80/tcp": [{HostIp, HostPort}]}. */
  portSettings(c: NetContainer): Record<string, { HostIp: string; HostPort: string }[]> {
    const out: Record<string, { HostIp: string; HostPort: string }[]> = {};
    for (const m of publishedPorts(c)) {
      (out[`${m.containerPort}/${m.protocol}`] ??= []).push({
        HostIp: m.hostIp || "0.0.0.0",
        HostPort: String(m.hostPort),
      });
    }
    return out;
  }

  #detachQuiet(ep: Endpoint): void {
    try {
      this.driver.detach(ep);
    } catch (e) {
      logger.warn("remove veth", { id: ep.containerId, veth: ep.hostVeth, error: String(e) });
    }
  }

  /** inspect's NetworkSettings. */
  settings(c: NetContainer, running: boolean): {
    Networks: Record<string, EndpointSettings>;
    IPAddress: string;
    Gateway: string;
    MacAddress: string;
  } {
    const networks: Record<string, EndpointSettings> = {};
    let first: EndpointSettings | undefined;
    for (const ep of this.store.endpointsOfContainer(c.id)) {
      const net = this.store.find(ep.networkId);
      if (!net) continue;
      const s: EndpointSettings = {
        NetworkID: net.id,
        EndpointID: endpointId(ep),
        Gateway: ep.gateway,
        IPAddress: ep.address,
        IPPrefixLen: ep.prefixLen,
        MacAddress: ep.mac,
      };
      if (running) {
        try {
          const k = this.driver.counters(ep);
          if (k) {
            s.Stats = {
              RxBytes: k.rxBytes,
              RxPackets: k.rxPackets,
              TxBytes: k.txBytes,
              TxPackets: k.txPackets,
            };
          }
        } catch {
          // counters are best effort
        }
      }
      networks[net.name] = s;
      first ??= s;
    }
    const mode = c.config.networkMode;
    if (!first && (mode === "none" || mode === "host")) {
      networks[mode] = {
        NetworkID: "",
        EndpointID: "",
        Gateway: "",
        IPAddress: "",
        IPPrefixLen: 0,
        MacAddress: "",
      };
    }
    return {
      Networks: networks,
      IPAddress: first?.IPAddress ?? "",
      Gateway: first?.Gateway ?? "",
      MacAddress: first?.MacAddress ?? "",
    };
  }
}

function publishedPorts(c: NetContainer): PortMapping[] {
  return (c.config.spec.publish ?? []).flatMap(parsePublish);
}

function endpointId(ep: Endpoint): string {
  return `${ep.networkId.slice(0, 32)}${ep.containerId.slice(0, 32)}`;
}

function pseudo(name: string, driver: "host" | "null"): NetworkInspect {
  return {
    Name: name,
    Id: name,
    Created: "0001-01-01T00:00:00Z",
    Scope: "local",
    Driver: driver,
    EnableIPv6: false,
    IPAM: { Driver: "default", Config: [] },
    Internal: false,
    Containers: {},
    Options: {},
    Labels: {},
  };
}

function readOr(path: string, fallback: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return fallback;
  }
}
