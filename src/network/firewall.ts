/**
 * Firewall rules for networks and containers: allow or deny traffic by direction, peer CIDR,
 * protocol and port, compiled to nftables rules. They are stateless packet filters, evaluated
 * in order (first match wins), in a chain of their own that runs before the isolation rules,
 * so an "allow" can never open what isolation closes. Routed traffic is filtered in the `ip`
 * and `ip6` families; traffic between containers on the same bridge never reaches the IP
 * forward hook, so the same rules also go into a `bridge` family table.
 *
 * Families: a rule with an IPv4 CIDR filters IPv4 only, one with an IPv6 CIDR IPv6 only, and
 * one without a CIDR both (on a dual-stack network; a container's rules match its address of
 * each family). `icmp` means ICMPv6 for IPv6. Neighbour discovery is never filtered, as ARP
 * is not for IPv4, so "deny icmp" means the same in both families. Between containers of one
 * bridge, IPv6 is matched by the container's bridge port rather than its address, so its
 * link-local address (which every container has, on IPv4-only networks too) is covered.
 * @module
 */

import { PolisError } from "../core/mod.ts";
import { bigToIp6, intToIp, ip6ToBig, ipToInt } from "./cidr.ts";

export interface FirewallRule {
  /** ingress: traffic to the container/network; egress: traffic it sends. */
  direction: "ingress" | "egress";
  action: "allow" | "deny";
  /** The peer's addresses, IPv4 or IPv6 (default: any, of both families). */
  cidr?: string;
  /** Destination port (with tcp or udp). */
  port?: number;
  protocol?: "tcp" | "udp" | "icmp" | "all";
}

/** A rule set and what it guards: a network (its bridge) or one container on it. */
export interface FirewallTarget {
  bridge: string;
  /** The network's subnet (the bridge family matches by address, not by bridge). */
  subnet: string;
  /** The network's IPv6 subnet, on a dual-stack network. */
  subnet6?: string;
  /** The container's address on that network; absent for a network's own rules. */
  address?: string;
  /** The container's IPv6 address on a dual-stack network. */
  address6?: string;
  /**
   * The host ends of the veths: the container's, or those of every container on the network
   * (bridged IPv6 is matched by port, see `compileFirewall`).
   */
  ports?: string[];
  rules: FirewallRule[];
}

/** Checks a rule; returns it normalised (CIDR with a prefix, protocol set). */
export function validateRule(r: FirewallRule): FirewallRule {
  if (r.direction !== "ingress" && r.direction !== "egress") {
    throw PolisError.invalid(`invalid firewall direction "${r.direction}": use ingress or egress`);
  }
  if (r.action !== "allow" && r.action !== "deny") {
    throw PolisError.invalid(`invalid firewall action "${r.action}": use allow or deny`);
  }
  const protocol = r.protocol ?? (r.port !== undefined ? "tcp" : "all");
  if (!["tcp", "udp", "icmp", "all"].includes(protocol)) {
    throw PolisError.invalid(`invalid firewall protocol "${protocol}": use tcp, udp, icmp or all`);
  }
  if (r.port !== undefined) {
    if (!Number.isInteger(r.port) || r.port < 1 || r.port > 65535) {
      throw PolisError.invalid(`invalid firewall port ${r.port}`);
    }
    if (protocol !== "tcp" && protocol !== "udp") {
      throw PolisError.invalid("a firewall port needs protocol tcp or udp");
    }
  }
  const cidr = r.cidr === undefined ? undefined : checkCidr(r.cidr);
  return {
    direction: r.direction,
    action: r.action,
    ...(cidr ? { cidr } : {}),
    ...(r.port !== undefined ? { port: r.port } : {}),
    protocol: protocol as FirewallRule["protocol"],
  };
}

/** The address family of a (validated) CIDR. */
export function cidrFamily(cidr: string): 4 | 6 {
  return cidr.includes(":") ? 6 : 4;
}

/**
 * A peer CIDR of either family in canonical form ("10.1.0.3" → "10.1.0.3/32",
 * "FD00:0::1" → "fd00::1/128"); host bits set are refused, as for subnets.
 */
function checkCidr(text: string): string {
  const bad = (why: string) => PolisError.invalid(`invalid firewall CIDR "${text}": ${why}`);
  const shape = "expected an IPv4 or IPv6 address or CIDR such as 10.1.0.0/16 or fd00::/64";
  const m = /^([0-9a-fA-F:.]+?)(?:\/(\d{1,3}))?$/.exec(text);
  if (!m) throw bad(shape);
  const v6 = m[1].includes(":");
  const bits = v6 ? 128 : 32;
  const prefix = m[2] === undefined ? bits : Number(m[2]);
  if (prefix > bits) throw bad(`an IPv${v6 ? 6 : 4} prefix is at most /${bits}`);
  if (v6) {
    let addr: bigint;
    try {
      addr = ip6ToBig(m[1]);
    } catch {
      throw bad(shape);
    }
    const host = BigInt(128 - prefix);
    const base = (addr >> host) << host;
    if (base !== addr) {
      throw bad(`host bits are set (did you mean ${bigToIp6(base)}/${prefix}?)`);
    }
    return `${bigToIp6(addr)}/${prefix}`;
  }
  let addr: number;
  try {
    addr = ipToInt(m[1]);
  } catch {
    throw bad(shape);
  }
  const base = prefix === 0 ? 0 : Math.floor(addr / 2 ** (32 - prefix)) * 2 ** (32 - prefix);
  if (base !== addr) throw bad(`host bits are set (did you mean ${intToIp(base)}/${prefix}?)`);
  return `${intToIp(addr)}/${prefix}`;
}

function l4(r: FirewallRule, family: 4 | 6): string {
  const p = r.protocol ?? "all";
  if (r.port !== undefined) return ` ${p} dport ${r.port}`;
  if (p === "all") return "";
  return ` meta l4proto ${p === "icmp" && family === 6 ? "ipv6-icmp" : p}`;
}

/** The families a rule filters: its CIDR's, or both without one. */
export function ruleFamilies(r: FirewallRule): (4 | 6)[] {
  return r.cidr ? [cidrFamily(r.cidr)] : [4, 6];
}

function isContainer(t: FirewallTarget): boolean {
  return t.address !== undefined || t.address6 !== undefined;
}

function quoted(ports: string[]): string {
  return ports.length === 1 ? `"${ports[0]}"` : `{ ${ports.map((p) => `"${p}"`).join(", ")} }`;
}

/**
 * nft rule bodies for `t`: for the `ip` and `ip6` families' forward hooks and for the bridge
 * family's (both families in one list, each rule naming its own; `v6` says whether some
 * applies to IPv6 there). In the bridge family IPv6 is matched by bridge port (the host ends
 * of the veths) where they are known, not by address: a container also has a link-local
 * address (on any network), and "deny all egress" must hold for that too.
 */
export function compileFirewall(
  t: FirewallTarget,
): { ip: string[]; ip6: string[]; bridge: string[]; v6: boolean } {
  const out = { ip: [] as string[], ip6: [] as string[], bridge: [] as string[], v6: false };
  const dev = `"${t.bridge}"`;
  const container = isContainer(t);
  const ports = (t.ports ?? []).filter((p) => /^[A-Za-z0-9_.-]{1,15}$/.test(p));
  for (const raw of t.rules) {
    const r = validateRule(raw);
    const verdict = r.action === "allow" ? "accept" : "drop";
    const ingress = r.direction === "ingress";
    const [self, peer] = ingress ? ["daddr", "saddr"] : ["saddr", "daddr"];
    for (const family of ruleFamilies(r)) {
      const x = family === 4 ? "ip" : "ip6";
      const tail = `${r.cidr ? ` ${x} ${peer} ${r.cidr}` : ""}${l4(r, family)} ${verdict}`;
      const addr = family === 4 ? t.address : t.address6;
      const subnet = family === 4 ? t.subnet : t.subnet6;
      const routed = family === 4 ? out.ip : out.ip6;
      // Routed traffic: only where the container or network has an address of the family.
      if (container && addr) routed.push(`${x} ${self} ${addr}${tail}`);
      if (!container && subnet) routed.push(`${ingress ? "oifname" : "iifname"} ${dev}${tail}`);
      let bridged: string | undefined;
      if (family === 6 && ports.length) {
        bridged = `meta protocol ip6 ${ingress ? "oifname" : "iifname"} ${quoted(ports)}`;
      } else if (container ? addr : subnet) {
        bridged = `${x} ${self} ${container ? addr : subnet}`;
      }
      if (bridged) {
        out.bridge.push(`${bridged}${tail}`);
        if (family === 6) out.v6 = true;
      }
    }
  }
  return out;
}

/**
 * Neighbour discovery passes the bridge family's firewall before any rule (ARP is never
 * filtered either): without it a rule on ICMP, or an ingress deny, would cut address
 * resolution and with it all IPv6 to the container, not just what the rule names.
 */
export const NFT_ND_ACCEPT = "icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept";
