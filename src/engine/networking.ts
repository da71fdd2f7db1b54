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
  bridgedTrafficFiltered,
  chooseFirewallBackend,
  clearOtherBackends,
  DnsServer,
  type Endpoint,
  type FirewallBackend,
  type FirewallRule,
  type FirewallTarget,
  hostForwarding,
  hostnameFile,
  hostsFile,
  ip6ToBig,
  iptablesAvailable,
  iptablesPrefix,
  IptablesRules,
  ipToInt,
  LoopbackRedirect,
  type NetworkRecord,
  type NetworkRules,
  NetworkStore,
  NftNetworkRules,
  NftPorts,
  nftTableName,
  parsePublish,
  parseSubnet,
  parseSubnet6,
  pickSubnet,
  pickSubnet6,
  type PortMapping,
  PortProxy,
  type PortRules,
  resolvConf,
  subnet6Text,
  subnetText,
  validateRule,
} from "../network/mod.ts";
import type { ExtraMount } from "./spec.ts";
import type {
  EndpointSettings,
  FirewallRuleView,
  NetworkApi,
  NetworkCreateSpec,
  NetworkInspect,
} from "./types.ts";

export interface NetworkingOptions {
  /** Subnet of the default bridge network (default 10.231.0.0/16). */
  defaultSubnet?: string;
  /** Device name of the default bridge (default polis0). */
  defaultBridge?: string;
  /** The network of containers created without one: "bridge" (docker's default), "none", … */
  defaultNetwork?: string;
  /** Where `network create` without --subnet takes a /24 from (default 10.232.0.0/14). */
  pool?: string;
  /** Where `network create --ipv6` without an IPv6 --subnet takes a /64 from. */
  pool6?: string;
  /** The daemon's root: names its nftables table. */
  root?: string;
  /**
   * Route containers' traffic out of the host (with masquerade). Default: only when the
   * host already forwards IPv4 (net.ipv4.ip_forward=1); Polis never changes that setting.
   */
  egress?: boolean;
  /**
   * How published ports reach containers: "nft" (kernel DNAT, the default where the `nft` tool
   * exists) or "proxy" (the daemon relays them itself; env POLIS_PORT_DRIVER). Without nft
   * there is also no isolation, NAT or firewall: Polis logs that once.
   */
  portDriver?: "nft" | "proxy";
  /**
   * Where isolation, NAT, firewall rules and published ports live: "nft", "iptables" (own
   * chains, for hosts without nft), "proxy" (no kernel rules) or "auto" (the default: the first
   * of those whose tool exists; env POLIS_FIREWALL_BACKEND).
   */
  firewallBackend?: string;
  /**
   * Where the embedded DNS sends names it does not know (env POLIS_DNS_UPSTREAM, comma
   * separated). None (the default): it answers REFUSED, and no query leaves the host.
   */
  dnsUpstream?: string[];
}

export const DEFAULT_NETWORK = "bridge";
export const DEFAULT_BRIDGE = "polis0";
export const DEFAULT_SUBNET = "10.231.0.0/16";
export const DEFAULT_POOL = "10.232.0.0/14";
/** A ULA /48 (RFC 4193) whose 40-bit global ID spells "polis" (70 6f 6c 69 73). */
export const DEFAULT_POOL6 = "fd70:6f6c:6973::/48";
const PREDEFINED = ["bridge", "host", "none"];
/** A fixed id for the default network, so it reads the same on every daemon. */
const DEFAULT_NETWORK_ID = "b".repeat(8) + "0".repeat(56);

/** What a container record carries that networking needs. */
export interface NetContainer {
  id: string;
  name: string;
  config: {
    hostname: string;
    networkMode: string;
    spec: {
      ip?: string;
      ip6?: string;
      publish?: string[];
      dns?: string[];
      addHosts?: string[];
      networkAliases?: string[];
      firewall?: FirewallRule[];
    };
  };
}

export class Networking implements NetworkApi {
  readonly store: NetworkStore;
  readonly driver = new BridgeDriver();
  readonly #pool: string;
  readonly #pool6: string;
  readonly ports: PortRules;
  /** Isolation and outbound NAT rules (nft: table `<ports table>_net`). */
  readonly nat: NetworkRules;
  readonly firewallBackend: FirewallBackend;
  /** The embedded DNS server of each user-defined network, by network id. */
  readonly #dns = new Map<string, DnsServer>();
  readonly #upstream: string[];
  /** Published ports through the daemon, where nftables is missing (or asked for). */
  readonly proxy = new PortProxy();
  /** The host's own connections to loopback ports, redirected at connect() (kernel path). */
  readonly redirect = new LoopbackRedirect();
  readonly portDriver: "nft" | "proxy";
  readonly #hasNft: boolean;
  /**
   * The default network's rules stay once a container used it, until close(): rewriting the
   * table for every short-lived container (`run --rm`) cost two nft transactions per run.
   */
  #defaultInUse = false;

  constructor(db: DatabaseSync, readonly opts: NetworkingOptions = {}) {
    this.store = new NetworkStore(db);
    this.#pool = opts.pool ?? DEFAULT_POOL;
    this.#pool6 = opts.pool6 ?? DEFAULT_POOL6;
    const table = nftTableName(opts.root ?? "/var/lib/polis");
    this.firewallBackend = chooseFirewallBackend(
      opts.firewallBackend ?? Deno.env.get("POLIS_FIREWALL_BACKEND") ?? "auto",
      { nft: nftAvailable, iptables: iptablesAvailable },
    );
    if (this.firewallBackend === "iptables") {
      const rules = new IptablesRules(iptablesPrefix(table));
      this.ports = this.nat = rules;
    } else {
      this.ports = new NftPorts(table);
      this.nat = new NftNetworkRules(`${table}_net`);
    }
    try {
      clearOtherBackends(this.firewallBackend, table);
    } catch (e) {
      logger.warn("network rules of another backend", { error: String(e) });
    }
    this.#hasNft = this.firewallBackend !== "proxy";
    const driver = opts.portDriver ?? Deno.env.get("POLIS_PORT_DRIVER");
    this.portDriver = driver === "proxy" || !this.#hasNft ? "proxy" : "nft";
    if (!this.#hasNft) {
      logger.warn(
        "no nft or iptables backend: published ports go through the daemon; no isolation, NAT or firewall rules",
      );
    }
    this.#upstream = opts.dnsUpstream ??
      (Deno.env.get("POLIS_DNS_UPSTREAM") ?? "").split(",").map((s) => s.trim()).filter(Boolean);
    if (!this.store.find(DEFAULT_NETWORK)) {
      this.store.create({
        id: DEFAULT_NETWORK_ID,
        name: DEFAULT_NETWORK,
        bridge: opts.defaultBridge ?? DEFAULT_BRIDGE,
        subnet: opts.defaultSubnet ?? DEFAULT_SUBNET,
      });
    }
    this.#syncQuiet();
    // After a daemon restart: the user networks' bridges (recreated if the host lost them)
    // and their DNS servers.
    for (const net of this.store.list()) {
      if (net.name === DEFAULT_NETWORK) continue;
      try {
        this.driver.ensureBridge(net);
        void this.#startDns(net);
      } catch (e) {
        logger.warn("restore network", { network: net.name, error: String(e) });
      }
    }
  }

  close(): void {
    // Without containers the default network's rules go with the daemon (they are kept
    // across a restart while containers still use them).
    if (this.#defaultInUse) {
      try {
        this.syncRules(false);
      } catch (e) {
        logger.warn("network rules", { error: String(e) });
      }
    }
    this.proxy.close();
    this.redirect.close();
    for (const s of this.#dns.values()) s.close();
    this.#dns.clear();
    this.driver.close();
  }

  /** Starts the embedded DNS of a user-defined network on its gateway (port 53). */
  async #startDns(net: NetworkRecord): Promise<void> {
    if (net.name === DEFAULT_NETWORK || this.#dns.has(net.id)) return;
    const server = new DnsServer({
      address: net.gateway,
      lookup: (name) => this.lookup(net.id, name),
      upstream: this.#upstream,
    });
    this.#dns.set(net.id, server);
    try {
      await server.start();
    } catch (e) {
      this.#dns.delete(net.id);
      logger.warn("embedded DNS cannot start", { network: net.name, error: String(e) });
    }
  }

  #stopDns(netId: string): void {
    this.#dns.get(netId)?.close();
    this.#dns.delete(netId);
  }

  /** Whether the network's embedded DNS is serving. */
  hasDns(netId: string): boolean {
    return this.#dns.has(netId);
  }

  /**
   * The addresses of `name` on network `netId`, as its DNS answers: running containers on it
   * by name, short id and `--network-alias`; undefined when nobody there has that name.
   */
  lookup(netId: string, name: string): string[] | undefined {
    const n = name.toLowerCase();
    const out: string[] = [];
    for (const ep of this.store.endpointsOf(netId)) {
      if (this.containerRunning && !this.containerRunning(ep.containerId)) continue;
      const names = [
        this.containerName?.(ep.containerId) ?? "",
        ep.containerId.slice(0, 12),
        ...ep.aliases,
      ];
      if (names.some((x) => x.toLowerCase() === n)) {
        out.push(ep.address);
        if (ep.address6) out.push(ep.address6);
      }
    }
    return out.length ? out : undefined;
  }

  /**
   * Rewrites the isolation and NAT rules for the networks in use: every user-defined network,
   * and the default one once it has had a container (until close()).
   */
  syncRules(keepDefault = true): void {
    if (!this.#hasNft) return;
    const nets = this.store.list().filter((n) => {
      if (n.name !== DEFAULT_NETWORK) return true;
      if (this.store.endpointsOf(n.id).length > 0) this.#defaultInUse = true;
      else if (!keepDefault) this.#defaultInUse = false;
      return this.#defaultInUse;
    });
    const firewall: FirewallTarget[] = [];
    for (const n of nets) {
      const stored = this.store.firewallRules(n.id);
      const fwNet = {
        bridge: n.bridge,
        subnet: n.subnet,
        ...(n.subnet6 ? { subnet6: n.subnet6 } : {}),
      };
      for (const ep of this.store.endpointsOf(n.id)) {
        const rules = [
          ...stored.filter((r) => r.containerId === ep.containerId).map((r) => r.rule),
          ...(this.containerSpec?.(ep.containerId)?.firewall ?? []),
        ];
        if (rules.length) {
          const { address, address6, hostVeth } = ep;
          const v6 = address6 ? { address6 } : {};
          firewall.push({ ...fwNet, address, ...v6, ports: [hostVeth], rules });
        }
      }
      const own = stored.filter((r) => !r.containerId).map((r) => r.rule);
      if (own.length) {
        const ports = this.store.endpointsOf(n.id).map((ep) => ep.hostVeth);
        firewall.push({ ...fwNet, ports, rules: own });
      }
    }
    this.nat.sync(nets, { egress: this.opts.egress ?? hostForwarding(), firewall });
  }

  #syncQuiet(): void {
    try {
      this.syncRules();
    } catch (e) {
      logger.warn("network rules", { error: String(e) });
    }
  }

  // ---- API --------------------------------------------------------------------------------

  async createNetwork(spec: NetworkCreateSpec): Promise<{ Id: string; Warning: string }> {
    if (PREDEFINED.includes(spec.name)) {
      throw PolisError.conflict(`network with name ${spec.name} already exists`);
    }
    const subnet6 = this.#subnet6For(spec);
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
    const net = this.store.create(
      {
        name: spec.name,
        subnet,
        gateway: spec.gateway,
        internal: spec.internal,
        labels: spec.labels,
        ...(subnet6 !== undefined ? { subnet6, gateway6: spec.gateway6 } : {}),
      },
      host,
      subnet6 !== undefined ? this.driver.hostSubnets6() : [],
    );
    try {
      this.driver.ensureBridge(net);
      this.syncRules();
      await this.#startDns(net);
    } catch (e) {
      try {
        this.driver.removeBridge(net);
      } finally {
        this.store.delete(net.id);
        this.#syncQuiet();
      }
      throw e;
    }
    return { Id: net.id, Warning: "" };
  }

  /**
   * The IPv6 subnet a create request asks for: the given one, or with `--ipv6` alone a free
   * /64 of the ULA pool; undefined for an IPv4-only network. Checks the combination first:
   * IPv6 settings need `--ipv6`, and `--ipv6` with an explicit IPv4 subnet needs an explicit
   * IPv6 one too (nothing is guessed when the user chose the addresses).
   */
  #subnet6For(spec: NetworkCreateSpec): string | undefined {
    if (!spec.enableIPv6) {
      if (spec.subnet6 !== undefined || spec.gateway6 !== undefined) {
        throw PolisError.invalid(
          `IPv6 ${spec.subnet6 !== undefined ? "subnet" : "gateway"} given without --ipv6`,
        );
      }
      return undefined;
    }
    if (spec.subnet6 !== undefined) return subnet6Text(parseSubnet6(spec.subnet6));
    if (spec.gateway6 !== undefined) {
      throw PolisError.invalid(`IPv6 gateway ${spec.gateway6} needs an IPv6 --subnet`);
    }
    if (spec.subnet !== undefined) {
      throw PolisError.invalid(
        `--ipv6 with the IPv4 subnet ${spec.subnet} needs an IPv6 --subnet too (e.g. fd12:3456::/64)`,
      );
    }
    const taken = [
      ...this.store.list().flatMap((n) => n.subnet6 ? [parseSubnet6(n.subnet6)] : []),
      ...this.driver.hostSubnets6().map((h) => h.subnet),
    ];
    const picked = pickSubnet6(parseSubnet6(this.#pool6), 64, taken);
    if (!picked) {
      throw new PolisError(
        "unavailable",
        `no free IPv6 subnet left in the pool ${this.#pool6}: give one with --subnet`,
      );
    }
    return subnet6Text(picked);
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
    this.#stopDns(net.id);
    this.driver.removeBridge(net);
    this.store.delete(net.id);
    this.syncRules();
    return Promise.resolve();
  }

  async connectNetwork(
    ref: string,
    container: string,
    opts: { ip?: string; ip6?: string; aliases?: string[] } = {},
  ): Promise<void> {
    if (ref === "host" || ref === "none") {
      throw PolisError.precondition(`a container cannot be connected to the ${ref} network`);
    }
    const net = this.store.get(ref);
    const c = this.containerRef?.(container);
    if (!c) throw PolisError.notFound(`container ${container} not found`);
    const mode = this.containerMode?.(c.id) ?? "";
    if (mode === "host" || mode === "none" || mode.startsWith("container:")) {
      throw PolisError.precondition(
        `container ${container} shares the network namespace of ${mode}: it cannot be connected to other networks`,
      );
    }
    if (this.store.endpointsOfContainer(c.id).some((e) => e.networkId === net.id)) {
      throw PolisError.conflict(
        `container ${container} is already connected to network ${net.name}`,
      );
    }
    if ((opts.ip !== undefined || opts.ip6 !== undefined) && net.name === DEFAULT_NETWORK) {
      throw PolisError.invalid(
        "user specified IP address is supported on user defined networks only",
      );
    }
    if (opts.aliases?.length && net.name === DEFAULT_NETWORK) {
      throw PolisError.invalid(
        "network-scoped aliases are supported only for containers on user-defined networks",
      );
    }
    const before = this.store.endpointsOfContainer(c.id);
    const first = before.length === 0;
    const first6 = !before.some((e) => e.address6);
    const ep = this.store.allocate(net.id, c.id, opts.ip, opts.aliases ?? [], opts.ip6);
    if (!c.pid) return;
    try {
      this.driver.ensureBridge(net);
      this.syncRules();
      await this.driver.attach(
        net,
        ep,
        `/proc/${c.pid}/ns/net`,
        first && !net.internal,
        first6 && !net.internal,
      );
      await this.#startDns(net);
    } catch (e) {
      this.store.releaseOne(net.id, c.id);
      this.#detachQuiet(ep);
      throw e;
    }
    this.#filesChangedQuiet(c.id);
  }

  disconnectNetwork(ref: string, container: string, force = false): Promise<void> {
    const net = this.store.find(ref);
    const c = this.containerRef?.(container);
    if (!net || !c) {
      if (force) return Promise.resolve();
      if (!net) throw PolisError.notFound(`network ${ref} not found`);
      throw PolisError.notFound(`container ${container} not found`);
    }
    const eps = this.store.endpointsOfContainer(c.id);
    const ep = eps.find((e) => e.networkId === net.id);
    if (!ep) {
      if (force) return Promise.resolve();
      throw PolisError.precondition(
        `container ${container} is not connected to network ${net.name}`,
      );
    }
    // Published ports follow the first network's address: they go with it.
    if (eps[0] === ep && this.containerSpec) {
      const spec = this.containerSpec(c.id);
      if (spec?.publish?.length) {
        try {
          this.#unpublish(spec.publish.flatMap(parsePublish), ep.address);
        } catch (e) {
          logger.warn("unpublish ports", { id: c.id, error: String(e) });
        }
      }
    }
    this.#detachQuiet(ep);
    this.store.releaseOne(net.id, c.id);
    this.#syncQuiet();
    if (c.pid) this.#filesChangedQuiet(c.id);
    return Promise.resolve();
  }

  async pruneNetworks(): Promise<string[]> {
    const removed: string[] = [];
    for (const net of this.store.list()) {
      if (net.name === DEFAULT_NETWORK || this.store.endpointsOf(net.id).length) continue;
      try {
        await this.removeNetwork(net.id);
        removed.push(net.name);
      } catch (e) {
        // a container took it meanwhile
        logger.warn("prune network", { network: net.name, error: String(e) });
      }
    }
    return removed;
  }

  /** Set by the engine: a container's network mode and create options. */
  containerMode?: (id: string) => string | undefined;
  containerSpec?: (id: string) => { publish?: string[]; firewall?: FirewallRule[] } | undefined;

  addFirewallRule(ref: string, spec: FirewallRule & { container?: string }): { Id: string } {
    const net = this.#bridgeNetwork(ref);
    const { container, ...rule } = spec;
    let containerId: string | undefined;
    if (container !== undefined) {
      const c = this.containerRef?.(container);
      if (!c) throw PolisError.notFound(`container ${container} not found`);
      if (!this.store.endpointsOfContainer(c.id).some((e) => e.networkId === net.id)) {
        throw PolisError.precondition(
          `container ${container} is not connected to network ${net.name}`,
        );
      }
      containerId = c.id;
    }
    this.#checkFirewall(net);
    const stored = this.store.addFirewallRule(net.id, rule, containerId);
    try {
      this.syncRules();
    } catch (e) {
      this.store.deleteFirewallRule(net.id, stored.id);
      throw e;
    }
    return { Id: stored.id };
  }

  /** Refuses firewall rules the backend cannot enforce (rather than ignoring them). */
  #checkFirewall(net?: NetworkRecord): void {
    if (!this.#hasNft) {
      throw PolisError.precondition(
        "firewall rules need the nft or iptables backend (neither tool is installed, or --firewall-backend proxy)",
      );
    }
    if (this.firewallBackend === "iptables" && !bridgedTrafficFiltered()) {
      throw PolisError.precondition(
        "firewall rules with the iptables backend need br_netfilter (net.bridge.bridge-nf-call-iptables=1) to see traffic within a network",
      );
    }
    if (this.firewallBackend === "iptables" && net?.subnet6 && !bridgedTrafficFiltered(6)) {
      throw PolisError.precondition(
        "firewall rules on a dual-stack network with the iptables backend need net.bridge.bridge-nf-call-ip6tables=1 to see IPv6 traffic within it",
      );
    }
  }

  listFirewallRules(ref: string): FirewallRuleView[] {
    const net = this.#bridgeNetwork(ref);
    return this.store.firewallRules(net.id).map((r) => ({
      Id: r.id,
      ...(r.containerId ? { containerId: r.containerId } : {}),
      ...r.rule,
    }));
  }

  deleteFirewallRule(ref: string, ruleId: string): void {
    const net = this.#bridgeNetwork(ref);
    if (!this.store.deleteFirewallRule(net.id, ruleId)) {
      throw PolisError.notFound(`network ${net.name} has no firewall rule ${ruleId}`);
    }
    this.syncRules();
  }

  #bridgeNetwork(ref: string): NetworkRecord {
    if (PREDEFINED.includes(ref) && ref !== DEFAULT_NETWORK) {
      throw PolisError.invalid(`the ${ref} network has no firewall rules: use a bridge network`);
    }
    return this.store.get(ref);
  }

  #inspect(n: NetworkRecord): NetworkInspect {
    const containers: NetworkInspect["Containers"] = {};
    for (const ep of this.store.endpointsOf(n.id)) {
      containers[ep.containerId] = {
        Name: this.containerName?.(ep.containerId) ?? "",
        EndpointID: endpointId(ep),
        MacAddress: ep.mac,
        IPv4Address: `${ep.address}/${ep.prefixLen}`,
        IPv6Address: ep.address6 ? `${ep.address6}/${ep.prefixLen6}` : "",
      };
    }
    return {
      Name: n.name,
      Id: n.id,
      Created: n.created,
      Scope: "local",
      Driver: "bridge",
      EnableIPv6: n.subnet6 !== undefined,
      IPAM: {
        Driver: "default",
        Config: [
          { Subnet: n.subnet, Gateway: n.gateway },
          ...(n.subnet6 ? [{ Subnet: n.subnet6, Gateway: n.gateway6 ?? "" }] : []),
        ],
      },
      Internal: n.internal,
      Containers: containers,
      Options: { "com.docker.network.bridge.name": n.bridge },
      Labels: n.labels,
    };
  }

  /** Set by the engine: a container's name for `network inspect`. */
  containerName?: (id: string) => string | undefined;
  /** Set by the engine: whether a container runs (the DNS names only running ones). */
  containerRunning?: (id: string) => boolean;

  // ---- container hooks --------------------------------------------------------------------

  /**
   * The network mode a create request asks for, checked: "none", "host", or a network's
   * canonical name. `--ip` only on user-defined networks, as docker.
   */
  resolveMode(spec: {
    networkMode?: string;
    ip?: string;
    ip6?: string;
    publish?: string[];
    dns?: string[];
    addHosts?: string[];
    networkAliases?: string[];
    firewall?: FirewallRule[];
  }): string {
    const m = spec.networkMode ?? this.opts.defaultNetwork ?? DEFAULT_NETWORK;
    const ports = (spec.publish ?? []).flatMap(parsePublish);
    if (spec.ip6 !== undefined) ip6ToBig(spec.ip6);
    for (const d of spec.dns ?? []) ipToInt(d);
    for (const r of spec.firewall ?? []) validateRule(r);
    if (spec.firewall?.length && (m === "none" || m === "host" || m.startsWith("container:"))) {
      throw PolisError.invalid(`firewall rules need a bridge network, not --network ${m}`);
    }
    if (spec.firewall?.length) this.#checkFirewall(this.store.find(m));
    for (const h of spec.addHosts ?? []) parseAddHost(h);
    if (spec.networkAliases?.length && !this.#userNetwork(m)) {
      throw PolisError.invalid(
        "network-scoped aliases are supported only for containers on user-defined networks",
      );
    }
    if (m.startsWith("container:")) {
      const ref = m.slice("container:".length);
      const target = ref ? this.containerRef?.(ref) : undefined;
      if (!target) throw PolisError.notFound(`container ${ref} not found (--network ${m})`);
      if (
        spec.ip !== undefined || spec.ip6 !== undefined || ports.length || spec.dns?.length ||
        spec.addHosts?.length
      ) {
        throw PolisError.invalid(
          "conflicting options: --ip, --ip6, -p, --dns and --add-host cannot be used with --network container:",
        );
      }
      return `container:${target.id}`;
    }
    if (m === "none" || m === "host") {
      if (spec.ip !== undefined || spec.ip6 !== undefined) {
        const flag = spec.ip !== undefined ? "--ip" : "--ip6";
        throw PolisError.invalid(`${flag} needs a user-defined network, not --network ${m}`);
      }
      if (ports.length) {
        throw PolisError.invalid(`published ports need a bridge network, not --network ${m}`);
      }
      return m;
    }
    const net = this.store.find(m);
    if (!net) throw PolisError.notFound(`network ${m} not found`);
    if ((spec.ip !== undefined || spec.ip6 !== undefined) && net.name === DEFAULT_NETWORK) {
      throw PolisError.invalid(
        "user specified IP address is supported on user defined networks only",
      );
    }
    if (spec.ip6 !== undefined && !net.subnet6) {
      throw PolisError.invalid(
        `network ${net.name} has no IPv6 subnet: --ip6 needs a network created with --ipv6`,
      );
    }
    return net.name;
  }

  #userNetwork(mode: string): boolean {
    if (mode === "none" || mode === "host" || mode.startsWith("container:")) return false;
    const net = this.store.find(mode);
    return net !== undefined && net.name !== DEFAULT_NETWORK;
  }

  /** Set by the engine: a container by name or id, with its init's pid while it runs. */
  containerRef?: (ref: string) => { id: string; pid?: number } | undefined;

  /**
   * The network namespace a `--network container:ID` container joins (the target's, which
   * must be running); undefined for the other modes.
   */
  joinNetns(c: NetContainer): string | undefined {
    const mode = c.config.networkMode;
    if (!mode.startsWith("container:")) return undefined;
    const id = mode.slice("container:".length);
    const target = this.containerRef?.(id);
    if (!target?.pid) {
      throw PolisError.precondition(
        `cannot join the network namespace of container ${id.slice(0, 12)}: it is not running`,
      );
    }
    return `/proc/${target.pid}/ns/net`;
  }

  /**
   * `-P`: the request with a `publish` entry per port the image exposes ("80/tcp"), each on a
   * free host port from the ephemeral range; unchanged without `publishAll`.
   */
  withPublishAll<T extends { publishAll?: boolean; publish?: string[] }>(
    spec: T,
    exposed: Record<string, unknown> | undefined,
  ): T {
    if (!spec.publishAll) return spec;
    const taken = new Set((spec.publish ?? []).flatMap(parsePublish).map((m) => m.hostPort));
    const extra: string[] = [];
    for (const key of Object.keys(exposed ?? {})) {
      const [port, proto = "tcp"] = key.split("/");
      if (!/^\d+$/.test(port) || (proto !== "tcp" && proto !== "udp")) continue;
      const host = freeHostPort(proto, taken);
      taken.add(host);
      extra.push(`${host}:${port}/${proto}`);
    }
    return { ...spec, publish: [...(spec.publish ?? []), ...extra] };
  }

  /** At create: reserve the container's address on its network. */
  allocate(c: NetContainer): void {
    const mode = c.config.networkMode;
    if (mode === "none" || mode === "host" || mode.startsWith("container:")) return;
    const net = this.store.get(mode);
    this.store.allocate(
      net.id,
      c.id,
      c.config.spec.ip,
      c.config.spec.networkAliases ?? [],
      c.config.spec.ip6,
    );
  }

  /** At rm: give the container's addresses back. */
  release(containerId: string): void {
    const eps = this.store.release(containerId);
    for (const ep of eps) this.#detachQuiet(ep);
    if (eps.length) this.#syncQuiet();
  }

  /** At start: writes /etc/hosts, /etc/hostname and /etc/resolv.conf; returns their mounts. */
  prepareFiles(c: NetContainer, dir: string): ExtraMount[] {
    const mounts: ExtraMount[] = [];
    for (const [name, text] of Object.entries(this.#files(c))) {
      const path = `${dir}/${name}`;
      writeFileAtomicSync(path, text, 0o644, { durable: false });
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
   * After `network connect|disconnect` of a running container: its /etc/hosts and
   * /etc/resolv.conf follow its networks. Rewritten in place, not renamed: the container's
   * bind mount holds the file's inode, so a new file would go unseen.
   */
  refreshFiles(c: NetContainer, dir: string): void {
    const files = this.#files(c);
    for (const name of ["hosts", "resolv.conf"]) {
      const path = `${dir}/${name}`;
      if (!existsFile(path)) continue; // not started yet: start writes them
      const f = Deno.openSync(path, { write: true });
      try {
        const bytes = new TextEncoder().encode(files[name]);
        let off = 0;
        while (off < bytes.length) off += f.writeSync(bytes.subarray(off));
        f.truncateSync(bytes.length);
        f.syncSync();
      } finally {
        f.close();
      }
    }
  }

  /** Set by the engine: rewrites a running container's /etc files (see refreshFiles). */
  filesChanged?: (containerId: string) => void;

  #filesChangedQuiet(containerId: string): void {
    try {
      this.filesChanged?.(containerId);
    } catch (e) {
      logger.warn("refresh /etc/hosts", { id: containerId, error: String(e) });
    }
  }

  /** The text of /etc/hostname, /etc/hosts and /etc/resolv.conf for a container. */
  #files(c: NetContainer): Record<string, string> {
    const mode = c.config.networkMode;
    // A container sharing another's namespace sees that one's addresses and DNS.
    const owner = mode.startsWith("container:") ? mode.slice("container:".length) : c.id;
    const eps = this.store.endpointsOfContainer(owner);
    const ep = eps[0];
    const hostResolv = readOr("/etc/resolv.conf", "");
    const extra = (c.config.spec.addHosts ?? []).map((h) => {
      const { name, address } = parseAddHost(h);
      return {
        address: address === "host-gateway" ? ep?.gateway ?? "127.0.0.1" : address,
        names: [name],
      };
    });
    // User-defined networks resolve names through their embedded DNS on the gateway: the
    // first network's first (each DNS answers REFUSED for names it does not know, so the
    // resolver asks the next); at most 3, as resolv.conf reads no more.
    const embedded = eps.filter((e) => this.#dns.has(e.networkId)).map((e) => e.gateway)
      .slice(0, 3);
    const dns = c.config.spec.dns?.length
      ? c.config.spec.dns
      : embedded.length
      ? embedded
      : undefined;
    return {
      hostname: hostnameFile(c.config.hostname),
      hosts: mode === "host"
        ? readOr("/etc/hosts", hostsFile({ hostname: c.config.hostname, extra }))
        : hostsFile({
          hostname: c.config.hostname,
          addresses: eps.map((e) => ({
            address: e.address,
            ...(e.address6 ? { address6: e.address6 } : {}),
            aliases: owner === c.id ? [c.name, ...e.aliases] : [],
          })),
          extra,
        }),
      "resolv.conf": mode === "host" && !dns
        ? hostResolv
        : resolvConf(hostResolv, { nameservers: dns }),
    };
  }

  /**
   * Between runtime create and start: connect the container whose init is `pid` (in its own
   * network namespace) to its network. Nothing to do for "none" and "host": the runtime's
   * init brings `lo` up in a network namespace it was given (no helper thread here).
   */
  async setup(c: NetContainer, pid: number): Promise<void> {
    const mode = c.config.networkMode;
    if (mode === "host" || mode === "none" || mode.startsWith("container:")) return;
    const netns = `/proc/${pid}/ns/net`;
    const ports = publishedPorts(c);
    this.syncRules();
    const eps = this.store.endpointsOfContainer(c.id);
    const first6 = eps.findIndex((e) => e.address6);
    for (const [i, ep] of eps.entries()) {
      const net = this.store.get(ep.networkId);
      // One default route per family: through the first network (with IPv6, for IPv6).
      await this.driver.attach(
        net,
        ep,
        netns,
        i === 0 && !net.internal,
        i === first6 && !net.internal,
      );
      if (i === 0 && ports.length) {
        if (this.portDriver === "proxy") {
          await this.proxy.add(ports, ep.address);
        } else {
          allowLocalnet(net.bridge);
          this.ports.add(ports, ep.address);
          this.redirect.add(ports, ep.address);
        }
      }
    }
  }

  /**
   * After a daemon restart, for a running container it adopts: published ports through the
   * userland proxy lived in the old daemon and must listen again (nft mappings stay in the
   * kernel).
   */
  async restore(c: NetContainer): Promise<void> {
    const ports = publishedPorts(c);
    const ep = this.store.endpointsOfContainer(c.id)[0];
    if (!ports.length || !ep) return;
    if (this.portDriver === "nft") {
      // Kernel mappings outlive the daemon: those still there are a conflict, which is fine;
      // those gone (after a restart with another --firewall-backend) are published again.
      try {
        this.ports.add(ports, ep.address);
      } catch (e) {
        if (!(e instanceof PolisError && e.code === "conflict")) throw e;
      }
      this.redirect.add(ports, ep.address);
      return;
    }
    await this.proxy.add(ports, ep.address);
  }

  /**
   * At exit (and after a failed start): unpublish ports, remove the container's veths. The
   * deletions run while the event loop serves other requests (each waits 10-20 ms in the
   * kernel).
   */
  async teardown(c: NetContainer): Promise<void> {
    const eps = this.store.endpointsOfContainer(c.id);
    try {
      if (eps[0]) this.#unpublish(publishedPorts(c), eps[0].address);
    } catch (e) {
      logger.warn("unpublish ports", { id: c.id, error: String(e) });
    }
    await Promise.all(eps.map(async (ep) => {
      try {
        await this.driver.detachAsync(ep);
      } catch (e) {
        logger.warn("remove veth", { id: ep.containerId, veth: ep.hostVeth, error: String(e) });
      }
    }));
  }

  #unpublish(ports: PortMapping[], address: string): void {
    if (this.portDriver === "proxy") this.proxy.remove(ports, address);
    else {
      this.redirect.remove(ports, address);
      this.ports.remove(ports, address);
    }
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
        GlobalIPv6Address: ep.address6 ?? "",
        GlobalIPv6PrefixLen: ep.prefixLen6 ?? 0,
        IPv6Gateway: ep.gateway6 ?? "",
        MacAddress: ep.mac,
        ...(ep.aliases.length ? { Aliases: ep.aliases } : {}),
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
        GlobalIPv6Address: "",
        GlobalIPv6PrefixLen: 0,
        IPv6Gateway: "",
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

/** Whether the nft tool can be run. */
function nftAvailable(): boolean {
  try {
    return new Deno.Command("nft", { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

/** A host port in 49153-65535 that nothing listens on (TCP) and `taken` does not hold. */
function freeHostPort(proto: string, taken: Set<number>): number {
  for (let i = 0; i < 200; i++) {
    const p = 49153 + Math.floor(Math.random() * (65535 - 49153));
    if (taken.has(p)) continue;
    if (proto === "tcp") {
      try {
        Deno.listen({ hostname: "0.0.0.0", port: p }).close();
      } catch {
        continue;
      }
    }
    return p;
  }
  throw new PolisError("unavailable", "no free host port for -P");
}

/** `--add-host NAME:IP` (or NAME=IP); IP may be "host-gateway". */
export function parseAddHost(spec: string): { name: string; address: string } {
  const i = spec.search(/[:=]/);
  const name = i > 0 ? spec.slice(0, i) : "";
  const address = i > 0 ? spec.slice(i + 1) : "";
  if (!/^[a-zA-Z0-9][a-zA-Z0-9.-]*$/.test(name) || !address) {
    throw PolisError.invalid(`invalid --add-host "${spec}": expected HOST:IP`);
  }
  if (address !== "host-gateway" && !address.includes(":")) ipToInt(address);
  return { name, address };
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

function existsFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

function readOr(path: string, fallback: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return fallback;
  }
}
