/**
 * The one place that applies networks to the kernel, over rtnetlink (no `ip` binary): bridges
 * with their gateway address, and per container a veth pair whose peer is born inside the
 * container's network namespace as eth0, with its address, MAC, default route and `lo` up.
 * On a dual-stack network the bridge also gets the IPv6 gateway and eth0 an IPv6 address and
 * IPv6 default route, both without duplicate address detection (usable at once), IPv6 being
 * enabled on both ends explicitly (a namespace may inherit disable_ipv6=1).
 * The container's namespace is reached through a netlink socket made there by a throwaway
 * Worker, so the daemon's own threads never change namespace.
 * @module
 */

import {
  AF_INET,
  AF_INET6,
  close,
  O_CLOEXEC,
  O_RDONLY,
  open,
  Rtnl,
  rtnlInNetns,
  setSysctlsInNetns,
} from "../../ffi/mod.ts";
import { PolisError } from "../core/mod.ts";
import {
  ip6ToBig,
  ipToInt,
  macForIp,
  parseSubnet,
  parseSubnet6,
  type Subnet,
  type Subnet6,
} from "./cidr.ts";
import type { Endpoint, NetworkRecord } from "./store.ts";
import { enableBridgeForwarding } from "./nat.ts";

/**
 * Makes sure IPv6 is on for a host link (the host may keep it off by default) and that its
 * addresses need no duplicate address detection. Host sysctls of Polis's own bridge only.
 */
function enableIpv6(link: string): void {
  for (const [key, value] of [["disable_ipv6", "0"], ["accept_dad", "0"]]) {
    const path = `/proc/sys/net/ipv6/conf/${link}/${key}`;
    try {
      if (Deno.readTextFileSync(path).trim() !== value) Deno.writeTextFileSync(path, value);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        throw PolisError.precondition("IPv6 is disabled on this host (no /proc/sys/net/ipv6)");
      }
      throw e;
    }
  }
}

/** Bridge MTU and veth MTU. */
export const DEFAULT_MTU = 1500;

export interface LinkCounters {
  rxBytes: number;
  rxPackets: number;
  txBytes: number;
  txPackets: number;
}

export class BridgeDriver {
  #host: Rtnl | undefined;

  /** The host-namespace socket, opened on first use on the calling (main) thread. */
  get host(): Rtnl {
    return this.#host ??= new Rtnl();
  }

  close(): void {
    this.#host?.close();
    this.#host = undefined;
  }

  /** Creates the network's bridge if missing, gives it the gateway address, and sets it up. */
  ensureBridge(net: NetworkRecord): void {
    const nl = this.host;
    const prefix = parseSubnet(net.subnet).prefix;
    let link = nl.findLink(net.bridge);
    if (!link) {
      nl.createBridge(net.bridge, { mtu: DEFAULT_MTU, mac: macForIp(ipToInt(net.gateway)) });
      link = nl.getLink(net.bridge);
    } else if (link.kind !== undefined && link.kind !== "bridge") {
      throw PolisError.conflict(`link ${net.bridge} exists and is a ${link.kind}, not a bridge`);
    }
    const has = nl.listAddresses(AF_INET).some((a) =>
      a.index === link!.index && a.address === net.gateway && a.prefixLen === prefix
    );
    if (!has) nl.addAddress(link.index, net.gateway, prefix);
    if (net.subnet6 && net.gateway6) {
      const prefix6 = parseSubnet6(net.subnet6).prefix;
      enableIpv6(net.bridge);
      const has6 = nl.listAddresses(AF_INET6).some((a) =>
        a.index === link!.index && a.address === net.gateway6 && a.prefixLen === prefix6
      );
      if (!has6) nl.addAddress(link.index, net.gateway6, prefix6);
    }
    if (!link.up) nl.setLink(link.index, { up: true });
    // Hairpin and published ports across networks are routed through the bridge; what may
    // leave it is decided by the rules in nat.ts.
    if (!net.internal) enableBridgeForwarding(net.bridge);
  }

  /** Deletes the network's bridge (its address and route go with it). */
  removeBridge(net: NetworkRecord): void {
    this.host.deleteLinkIfExists(net.bridge);
  }

  /** IPv4 destinations the host routes somewhere already (except `except` devices). */
  hostSubnets(except: string[] = []): { subnet: Subnet; what: string }[] {
    const nl = this.host;
    const names = new Map(nl.listLinks().map((l) => [l.index, l.name]));
    const out: { subnet: Subnet; what: string }[] = [];
    for (const r of nl.listRoutes({ family: AF_INET })) {
      if (r.dst === "default" || r.type !== 1) continue;
      const dev = r.oif !== undefined ? names.get(r.oif) ?? `#${r.oif}` : "?";
      if (except.includes(dev)) continue;
      try {
        out.push({ subnet: parseSubnet(r.dst), what: `the host route ${r.dst} dev ${dev}` });
      } catch {
        // host routes (/31, /32) are below IPAM's granularity; overlaps() covers them anyway
        const [addr, len] = r.dst.split("/");
        out.push({
          subnet: { base: ipToInt(addr), prefix: Number(len) },
          what: `the host route ${r.dst} dev ${dev}`,
        });
      }
    }
    return out;
  }

  /** IPv6 destinations the host routes somewhere already (not link-local, not default). */
  hostSubnets6(except: string[] = []): { subnet: Subnet6; what: string }[] {
    const nl = this.host;
    const names = new Map(nl.listLinks().map((l) => [l.index, l.name]));
    const out: { subnet: Subnet6; what: string }[] = [];
    for (const r of nl.listRoutes({ family: AF_INET6 })) {
      if (r.dst === "default" || r.type !== 1 || /^fe[89ab]/i.test(r.dst)) continue;
      const dev = r.oif !== undefined ? names.get(r.oif) ?? `#${r.oif}` : "?";
      if (except.includes(dev) || dev === "lo") continue;
      const [addr, len] = r.dst.split("/");
      try {
        const n = Number(len);
        out.push({
          // Host routes (/127, /128) are below IPAM's granularity: overlaps6() covers them.
          subnet: n <= 126 ? parseSubnet6(r.dst) : { base: ip6ToBig(addr), prefix: n },
          what: `the host route ${r.dst} dev ${dev}`,
        });
      } catch {
        // a route IPAM cannot read is none of its business
      }
    }
    return out;
  }

  /**
   * Connects the container whose network namespace is `netnsPath` to `net` as described by
   * `ep`. Leaves nothing behind on failure. `defaultRoute6`: the IPv6 default route goes
   * through this network (dual-stack networks only).
   */
  async attach(
    net: NetworkRecord,
    ep: Endpoint,
    netnsPath: string,
    defaultRoute = !net.internal,
    defaultRoute6 = defaultRoute,
  ): Promise<void> {
    const nl = this.host;
    this.ensureBridge(net);
    // A leftover of an earlier run of this container (e.g. its namespace outlived it).
    nl.deleteLinkIfExists(ep.hostVeth);
    const nsFd = open(netnsPath, O_RDONLY | O_CLOEXEC);
    try {
      nl.createVeth(ep.hostVeth, ep.ifname, {
        mtu: DEFAULT_MTU,
        master: net.bridge,
        peerMac: ep.mac,
        peerNetns: { fd: nsFd },
      });
    } finally {
      close(nsFd);
    }
    try {
      nl.setLink(ep.hostVeth, { up: true });
      if (ep.address6) {
        await setSysctlsInNetns(netnsPath, {
          [`net/ipv6/conf/${ep.ifname}/disable_ipv6`]: "0",
          [`net/ipv6/conf/${ep.ifname}/accept_dad`]: "0",
        });
      }
      const ctr = await rtnlInNetns(netnsPath);
      try {
        ctr.setLink("lo", { up: true });
        ctr.addAddress(ep.ifname, ep.address, ep.prefixLen);
        ctr.setLink(ep.ifname, { up: true });
        if (defaultRoute) ctr.addRoute({ dst: "default", gateway: ep.gateway, dev: ep.ifname });
        if (ep.address6) {
          ctr.addAddress(ep.ifname, ep.address6, ep.prefixLen6!);
          if (defaultRoute6 && ep.gateway6) {
            ctr.addRoute({ dst: "default", gateway: ep.gateway6, dev: ep.ifname });
          }
        }
      } finally {
        // The socket pins the namespace: close it so the namespace dies with the container.
        ctr.close();
      }
    } catch (e) {
      try {
        nl.deleteLinkIfExists(ep.hostVeth);
      } catch {
        // reported with the original error's context below
      }
      throw e;
    }
  }

  /** Brings `lo` up in the namespace (for `--network none` and as part of attach). */
  async loopbackUp(netnsPath: string): Promise<void> {
    const ctr = await rtnlInNetns(netnsPath);
    try {
      ctr.setLink("lo", { up: true });
    } finally {
      ctr.close();
    }
  }

  /** Removes the container's veth pair (deleting one end removes both). */
  detach(ep: Endpoint): void {
    this.host.deleteLinkIfExists(ep.hostVeth);
  }

  /** `detach` without blocking the event loop while the kernel deletes. */
  async detachAsync(ep: Endpoint): Promise<void> {
    await this.host.deleteLinkIfExistsAsync(ep.hostVeth);
  }

  /** The container's traffic counters, seen from the container (host side inverted). */
  counters(ep: Endpoint): LinkCounters | undefined {
    const link = this.host.findLink(ep.hostVeth);
    const s = link?.stats;
    if (!s) return undefined;
    return {
      rxBytes: s.txBytes,
      rxPackets: s.txPackets,
      txBytes: s.rxBytes,
      txPackets: s.rxPackets,
    };
  }
}
