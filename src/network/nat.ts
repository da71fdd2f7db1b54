/**
 * Isolation between networks and outbound NAT, in one nftables table this daemon owns
 * (`ip polis_<hash>_net`), regenerated whole from the list of live networks and replaced in
 * one nft transaction, so it can never drift from the store. Default policies and other
 * tables are never touched; the table goes when the last network does.
 *
 * Forward rules: an `--internal` network's bridge talks only to itself; traffic between two
 * Polis bridges is dropped unless it is a published port (DNAT); where the host keeps IPv4
 * forwarding off (`net.ipv4.ip_forward=0`) nothing is routed from a Polis bridge to a
 * non-Polis interface either, so enabling forwarding on our own bridges (needed for hairpin)
 * never opens a way out the host did not allow. Postrouting: masquerade of a non-internal
 * network's subnet leaving by another interface, and hairpin masquerade for a container
 * reaching a published port of its own network through a host address.
 *
 * IPv6: when some network is dual-stack, a table `ip6 <table>` holds the same forward
 * isolation rules (internal networks, between bridges, no egress where not allowed). There is
 * no NAT66 and no published port over IPv6, so it has no postrouting chain. Firewall rules
 * that apply to IPv6 (see firewall.ts) go into its own `firewall` chain, as in `ip`.
 * @module
 */

import { PolisError } from "../core/mod.ts";
import { nft } from "./ports.ts";
import { compileFirewall, type FirewallTarget, NFT_ND_ACCEPT } from "./firewall.ts";

/** What the rules need of a network. */
export interface NatNetwork {
  bridge: string;
  subnet: string;
  internal: boolean;
  /** Set on a dual-stack network: its bridge is isolated for IPv6 too. */
  subnet6?: string;
}

export interface NatOptions {
  /** Allow routing from Polis bridges to other interfaces (default: the host's ip_forward). */
  egress: boolean;
  /** Firewall rules of networks and containers (see firewall.ts). */
  firewall?: FirewallTarget[];
}

function q(name: string): string {
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(name)) throw PolisError.invalid(`invalid device "${name}"`);
  return `"${name}"`;
}

function set(names: string[]): string {
  return `{ ${names.map(q).join(", ")} }`;
}

/** The nft script that makes table `ip <table>` hold exactly the rules for `nets`. */
export function natScript(table: string, nets: NatNetwork[], opts: NatOptions): string {
  const t = `ip ${table}`;
  // "add" then "delete" makes the delete succeed whether or not the table existed.
  const b = `bridge ${table}`;
  const t6 = `ip6 ${table}`;
  const lines = [`add table ${t}`, `delete table ${t}`, `add table ${b}`, `delete table ${b}`];
  lines.push(`add table ${t6}`, `delete table ${t6}`);
  const fw = (opts.firewall ?? []).map(compileFirewall);
  if (fw.some((f) => f.bridge.length)) {
    lines.push(
      `add table ${b}`,
      `add chain ${b} forward { type filter hook forward priority filter; policy accept; }`,
    );
    if (fw.some((f) => f.v6)) lines.push(`add rule ${b} forward ${NFT_ND_ACCEPT}`);
    lines.push(...fw.flatMap((f) => f.bridge.map((r) => `add rule ${b} forward ${r}`)));
  }
  if (!nets.length) return lines.join("\n") + "\n";
  lines.push(
    `add table ${t}`,
    `add chain ${t} forward { type filter hook forward priority filter; policy accept; }`,
    `add chain ${t} postrouting { type nat hook postrouting priority srcnat; policy accept; }`,
  );
  if (fw.some((f) => f.ip.length)) {
    // Before the isolation rules (priority filter): its accepts cannot undo their drops.
    lines.push(
      `add chain ${t} firewall { type filter hook forward priority -10; policy accept; }`,
      ...fw.flatMap((f) => f.ip.map((r) => `add rule ${t} firewall ${r}`)),
    );
  }
  const rule = (chain: string, r: string) => lines.push(`add rule ${t} ${chain} ${r}`);
  isolation(nets, opts, (r) => rule("forward", r));
  if (nets.some((n) => n.subnet6) || fw.some((f) => f.ip6.length)) {
    // Every bridge, v4-only ones included: isolation is by interface, whatever the family.
    lines.push(
      `add table ${t6}`,
      `add chain ${t6} forward { type filter hook forward priority filter; policy accept; }`,
    );
    if (fw.some((f) => f.ip6.length)) {
      lines.push(
        `add chain ${t6} firewall { type filter hook forward priority -10; policy accept; }`,
        ...fw.flatMap((f) => f.ip6.map((r) => `add rule ${t6} firewall ${r}`)),
      );
    }
    isolation(nets, opts, (r) => lines.push(`add rule ${t6} forward ${r}`));
  }
  for (const n of nets.filter((n) => !n.internal)) {
    rule("postrouting", `iifname ${q(n.bridge)} oifname ${q(n.bridge)} ct status dnat masquerade`);
    rule("postrouting", `ip saddr ${n.subnet} oifname != ${q(n.bridge)} masquerade`);
  }
  return lines.join("\n") + "\n";
}

/** The forward rules that keep networks apart (the same for `ip` and `ip6`). */
function isolation(nets: NatNetwork[], opts: NatOptions, rule: (r: string) => void): void {
  const bridges = nets.map((n) => n.bridge);
  for (const n of nets.filter((n) => n.internal)) {
    rule(`iifname ${q(n.bridge)} oifname != ${q(n.bridge)} drop`);
    rule(`oifname ${q(n.bridge)} iifname != ${q(n.bridge)} drop`);
  }
  // Published ports are reachable from anywhere, other networks included.
  rule("ct status dnat accept");
  for (const n of nets.filter((n) => !n.internal)) {
    const others = bridges.filter((b) => b !== n.bridge);
    if (others.length) rule(`iifname ${q(n.bridge)} oifname ${set(others)} drop`);
  }
  if (!opts.egress) {
    rule(`iifname ${set(bridges)} oifname != ${set(bridges)} drop`);
  }
}

/** Whether the host forwards IPv4 between its interfaces (net.ipv4.ip_forward). */
export function hostForwarding(): boolean {
  try {
    return Deno.readTextFileSync("/proc/sys/net/ipv4/ip_forward").trim() === "1";
  } catch {
    return false;
  }
}

/**
 * Lets the kernel route packets that arrive on `bridge` (per device: the host's global
 * ip_forward is left alone). Hairpin and published ports across networks need it.
 */
export function enableBridgeForwarding(bridge: string): void {
  Deno.writeTextFileSync(`/proc/sys/net/ipv4/conf/${bridge}/forwarding`, "1");
}

/** Isolation, NAT and firewall rules kept in step with the live networks (nft or iptables). */
export interface NetworkRules {
  sync(nets: NatNetwork[], opts: NatOptions): void;
}

/** Keeps table `ip <table>` in step with the live networks. */
export class NftNetworkRules implements NetworkRules {
  #last: string | undefined;

  constructor(readonly table: string) {}

  /** Replaces the table's rules with those for `nets` (no-op when nothing changed). */
  sync(nets: NatNetwork[], opts: NatOptions): void {
    const script = natScript(this.table, nets, opts);
    if (script === this.#last) return;
    const r = nft(script);
    if (!r.ok) {
      this.#last = undefined;
      throw PolisError.internal(`nftables: cannot write table ${this.table}: ${r.err}`);
    }
    this.#last = script;
  }
}
