/**
 * Firewall rules for networks and containers: allow or deny traffic by direction, peer CIDR,
 * protocol and port, compiled to nftables rules. They are stateless packet filters, evaluated
 * in order (first match wins), in a chain of their own that runs before the isolation rules,
 * so an "allow" can never open what isolation closes. Routed traffic is filtered in the `ip`
 * family; traffic between containers on the same bridge never reaches the IP forward hook,
 * so the same rules also go into a `bridge` family table.
 * @module
 */

import { PolisError } from "../core/mod.ts";
import { parseSubnet } from "./cidr.ts";

export interface FirewallRule {
  /** ingress: traffic to the container/network; egress: traffic it sends. */
  direction: "ingress" | "egress";
  action: "allow" | "deny";
  /** The peer's addresses (default: any). */
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
  /** The container's address on that network; absent for a network's own rules. */
  address?: string;
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
  let cidr: string | undefined;
  if (r.cidr !== undefined) {
    const [addr, len = "32"] = r.cidr.split("/");
    const prefix = Number(len);
    if (!/^\d+$/.test(len) || prefix > 32) {
      throw PolisError.invalid(`invalid firewall CIDR "${r.cidr}"`);
    }
    // parseSubnet refuses host bits and tiny prefixes: check the address part on its own.
    if (prefix <= 30) parseSubnet(`${addr}/${prefix}`);
    else parseSubnet(`${addr.replace(/\.\d+$/, ".0")}/24`);
    cidr = `${addr}/${prefix}`;
  }
  return {
    direction: r.direction,
    action: r.action,
    ...(cidr ? { cidr } : {}),
    ...(r.port !== undefined ? { port: r.port } : {}),
    protocol: protocol as FirewallRule["protocol"],
  };
}

function l4(r: FirewallRule): string {
  const p = r.protocol ?? "all";
  if (r.port !== undefined) return ` ${p} dport ${r.port}`;
  if (p === "all") return "";
  return ` meta l4proto ${p}`;
}

/** nft rule bodies for `t`, for the ip family's forward hook and the bridge family's. */
export function compileFirewall(t: FirewallTarget): { ip: string[]; bridge: string[] } {
  const ip: string[] = [];
  const bridge: string[] = [];
  const dev = `"${t.bridge}"`;
  for (const raw of t.rules) {
    const r = validateRule(raw);
    const verdict = r.action === "allow" ? "accept" : "drop";
    const ingress = r.direction === "ingress";
    const peer = r.cidr ? ` ip ${ingress ? "saddr" : "daddr"} ${r.cidr}` : "";
    const tail = `${peer}${l4(r)} ${verdict}`;
    if (t.address) {
      const self = `ip ${ingress ? "daddr" : "saddr"} ${t.address}`;
      ip.push(`${self}${tail}`);
      bridge.push(`${self}${tail}`);
    } else {
      ip.push(`${ingress ? "oifname" : "iifname"} ${dev}${tail}`);
      bridge.push(`ip ${ingress ? "daddr" : "saddr"} ${t.subnet}${tail}`);
    }
  }
  return { ip, bridge };
}
