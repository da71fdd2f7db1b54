/**
 * The iptables form of Polis's kernel rules (the fallback where the `nft` tool is missing),
 * as pure functions: which chains and rules a daemon needs for its networks and published
 * ports, and the `iptables-restore --noflush` input that turns what `iptables-save` shows into
 * that. Only chains named with the daemon's prefix are written; the built-in chains get one
 * jump rule each into ours, and nothing else in them is touched.
 *
 * Chains (prefix `POLIS-<hash>`, well under iptables' 28-character limit):
 * - nat `-DNAT` (from PREROUTING and OUTPUT, for local destinations): published ports.
 * - nat `-POST` (from POSTROUTING): masquerade of non-internal subnets going out, hairpin, and
 *   connections from the host's loopback to a published port.
 * - filter `-FWD` (from FORWARD): firewall rules (`-FW`), then isolation between networks and
 *   of internal networks, and (`-EGR`) no routing out of the host where it does not forward.
 * Our chains never ACCEPT: "let it pass" is RETURN, so the host's own FORWARD rules after our
 * jump still decide, as they would next to Polis's own nftables table.
 * @module
 */

import { PolisError } from "../core/mod.ts";
import type { NatNetwork, NatOptions } from "./nat.ts";
import type { PortMapping } from "./ports.ts";
import { type FirewallTarget, ruleFamilies, validateRule } from "./firewall.ts";

/** A published port and the container address it leads to. */
export interface Published {
  mapping: PortMapping;
  address: string;
}

/** What the daemon's chains must hold. */
export interface IptablesState {
  nets: NatNetwork[];
  opts: NatOptions;
  ports: Published[];
}

/** Our chains and rules of one table ("-A CHAIN ..." lines, iptables-save's spelling). */
export interface TableRules {
  chains: string[];
  rules: string[];
  /** Jump rules into our chains from the built-in ones. */
  jumps: string[];
}

export type Table = "nat" | "filter";
export const TABLES: Table[] = ["nat", "filter"];

/** The chain name prefix of a daemon, from its nft table name (`polis_1a2b3c4d`). */
export function iptablesPrefix(nftTable: string): string {
  return `POLIS-${nftTable.replace(/^polis_/, "")}`;
}

function dev(name: string): string {
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(name)) throw PolisError.invalid(`invalid device "${name}"`);
  return name;
}

/** The rules of both tables for `s`; none at all when there is nothing to hold. */
export function iptablesRules(prefix: string, s: IptablesState): Record<Table, TableRules> {
  const none = { chains: [], rules: [], jumps: [] };
  if (!s.nets.length && !s.ports.length) return { nat: none, filter: none };
  const DNAT = `${prefix}-DNAT`;
  const POST = `${prefix}-POST`;
  const FWD = `${prefix}-FWD`;
  const FW = `${prefix}-FW`;

  const nat: string[] = [];
  // Mappings on one host address win over those on every address, as in the nft maps.
  const ports = [...s.ports].sort((a, b) => Number(!a.mapping.hostIp) - Number(!b.mapping.hostIp));
  for (const { mapping: m, address } of ports) {
    const dst = m.hostIp ? `-d ${m.hostIp}/32 ` : "";
    nat.push(
      `-A ${DNAT} ${dst}-p ${m.protocol} -m ${m.protocol} --dport ${m.hostPort} ` +
        `-j DNAT --to-destination ${address}:${m.containerPort}`,
    );
  }
  // Connections from the host's loopback leave with the bridge's address.
  if (ports.length) nat.push(`-A ${POST} -s 127.0.0.0/8 -m conntrack --ctstate DNAT -j MASQUERADE`);
  for (const n of s.nets.filter((n) => !n.internal)) {
    const b = dev(n.bridge);
    // Hairpin: a container reaching a published port of its own network.
    nat.push(`-A ${POST} -s ${n.subnet} -o ${b} -m conntrack --ctstate DNAT -j MASQUERADE`);
    nat.push(`-A ${POST} -s ${n.subnet} ! -o ${b} -j MASQUERADE`);
  }

  const filter: string[] = [];
  const fw = firewallRules(FW, s.opts.firewall ?? []);
  const chains = [FWD];
  if (fw.length) {
    chains.push(FW);
    filter.push(`-A ${FWD} -j ${FW}`, ...fw);
  }
  const iso = isolationRules(prefix, s.nets, s.opts.egress);
  chains.push(...iso.chains.filter((c) => c !== FWD));
  filter.push(...iso.rules);
  return {
    nat: {
      chains: [DNAT, POST],
      rules: nat,
      jumps: [
        `-A PREROUTING -m addrtype --dst-type LOCAL -j ${DNAT}`,
        `-A OUTPUT -m addrtype --dst-type LOCAL -j ${DNAT}`,
        `-A POSTROUTING -j ${POST}`,
      ],
    },
    filter: { chains, rules: filter, jumps: [`-A FORWARD -j ${FWD}`] },
  };
}

/**
 * The forward rules that keep networks apart (the same for iptables and ip6tables), in chain
 * `<prefix>-FWD`, with `<prefix>-EGR` where nothing may leave for a non-Polis interface.
 */
function isolationRules(
  prefix: string,
  nets: NatNetwork[],
  egress: boolean,
): { chains: string[]; rules: string[] } {
  const FWD = `${prefix}-FWD`;
  const EGR = `${prefix}-EGR`;
  const chains = [FWD];
  const rules: string[] = [];
  const bridges = nets.map((n) => dev(n.bridge));
  for (const n of nets.filter((n) => n.internal)) {
    rules.push(`-A ${FWD} -i ${n.bridge} ! -o ${n.bridge} -j DROP`);
    rules.push(`-A ${FWD} ! -i ${n.bridge} -o ${n.bridge} -j DROP`);
  }
  // Published ports are reachable from anywhere, other networks included.
  if (nets.length) rules.push(`-A ${FWD} -m conntrack --ctstate DNAT -j RETURN`);
  for (const n of nets.filter((n) => !n.internal)) {
    for (const o of bridges.filter((b) => b !== n.bridge)) {
      rules.push(`-A ${FWD} -i ${n.bridge} -o ${o} -j DROP`);
    }
  }
  if (!egress && bridges.length) {
    chains.push(EGR);
    for (const b of bridges) rules.push(`-A ${FWD} -i ${b} -j ${EGR}`);
    for (const b of bridges) rules.push(`-A ${EGR} -o ${b} -j RETURN`);
    rules.push(`-A ${EGR} -j DROP`);
  }
  return { chains, rules };
}

/**
 * IPv6 (ip6tables): where some network is dual-stack, the same isolation in the filter table,
 * for every bridge (isolation is by interface, whatever the family), after the firewall rules
 * that apply to IPv6 (`-FW`, as for IPv4). No NAT66 and no published port over IPv6, as with
 * nftables.
 */
export function ip6tablesRules(prefix: string, s: IptablesState): Record<Table, TableRules> {
  const none = { chains: [], rules: [], jumps: [] };
  const FWD = `${prefix}-FWD`;
  const FW = `${prefix}-FW`;
  const fw = firewallRules(FW, s.opts.firewall ?? [], 6);
  if (!s.nets.some((n) => n.subnet6) && !fw.length) return { nat: none, filter: none };
  const chains = [FWD];
  const rules: string[] = [];
  if (fw.length) {
    chains.push(FW);
    rules.push(`-A ${FWD} -j ${FW}`, ...fw);
  }
  const iso = isolationRules(prefix, s.nets, s.opts.egress);
  chains.push(...iso.chains.filter((c) => c !== FWD));
  rules.push(...iso.rules);
  return { nat: none, filter: { chains, rules, jumps: [`-A FORWARD -j ${FWD}`] } };
}

/**
 * Firewall rules of one family as iptables rules of chain `chain`, in order (first match
 * wins): "deny" drops, "allow" returns to the isolation rules (it never lets through what they
 * drop). Traffic between containers of one bridge reaches them only where br_netfilter passes
 * bridged frames to iptables (net.bridge.bridge-nf-call-iptables=1, -ip6tables for IPv6). For
 * IPv6, neighbour discovery returns first (ARP never reaches iptables either), and `icmp`
 * means ICMPv6.
 */
export function firewallRules(
  chain: string,
  targets: FirewallTarget[],
  family: 4 | 6 = 4,
): string[] {
  const out: string[] = [];
  const host = family === 4 ? 32 : 128;
  for (const t of targets) {
    const container = t.address !== undefined || t.address6 !== undefined;
    const addr = family === 4 ? t.address : t.address6;
    const ports = family === 6 ? (t.ports ?? []).map(dev) : [];
    for (const raw of t.rules) {
      const r = validateRule(raw);
      if (!ruleFamilies(r).includes(family)) continue;
      const ingress = r.direction === "ingress";
      const matches: string[] = [];
      if (container) {
        if (addr) matches.push(`${ingress ? "-d" : "-s"} ${addr}/${host}`);
        // Bridged IPv6 by port too: the container's link-local address is not `addr`.
        for (const p of ports) {
          matches.push(`-m physdev --physdev-${ingress ? "out" : "in"} ${p} --physdev-is-bridged`);
        }
      } else if (family === 4 || t.subnet6 || ports.length) {
        // By interface: with br_netfilter, `-i`/`-o` is the bridge for bridged frames too.
        matches.push(`${ingress ? "-o" : "-i"} ${dev(t.bridge)}`);
      }
      const rest: string[] = [];
      if (r.cidr) rest.push(`${ingress ? "-s" : "-d"} ${r.cidr}`);
      const p = r.protocol ?? "all";
      if (p !== "all") rest.push(`-p ${p === "icmp" && family === 6 ? "ipv6-icmp" : p}`);
      if (r.port !== undefined) rest.push(`-m ${p} --dport ${r.port}`);
      rest.push(`-j ${r.action === "allow" ? "RETURN" : "DROP"}`);
      // Several matches of one rule: consecutive rules with the same verdict.
      for (const m of matches) out.push([`-A ${chain}`, m, ...rest].join(" "));
    }
  }
  if (family === 6 && out.length) {
    out.unshift(
      ...["neighbour-solicitation", "neighbour-advertisement"].map((type) =>
        `-A ${chain} -p ipv6-icmp -m icmp6 --icmpv6-type ${type} -j RETURN`
      ),
    );
  }
  return out;
}

/** What `iptables-save -t <table>` shows of ours. */
export interface SavedTable {
  /** Chains named with our prefix. */
  chains: string[];
  /** Rules of the built-in chains that jump into ours. */
  jumps: string[];
  /** The rules of our chains. */
  rules: string[];
}

const BUILTIN = new Set(["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"]);

/** Our part of one table's `iptables-save` output. */
export function parseSaved(text: string, prefix: string): SavedTable {
  const out: SavedTable = { chains: [], jumps: [], rules: [] };
  const ours = (c: string) => c.startsWith(`${prefix}-`);
  for (const line of text.split("\n")) {
    if (line.startsWith(":")) {
      const name = line.slice(1).split(" ")[0];
      if (ours(name)) out.chains.push(name);
    } else if (line.startsWith("-A ")) {
      const chain = line.split(" ")[1];
      const target = / -[jg] (\S+)/.exec(line)?.[1] ?? "";
      if (ours(chain)) out.rules.push(line);
      else if (BUILTIN.has(chain) && ours(target)) out.jumps.push(line);
    }
  }
  return out;
}

/** The published ports found in our DNAT chain (a restarted daemon takes them over). */
export function parsePublished(saved: SavedTable, prefix: string): Published[] {
  const re = new RegExp(
    `^-A ${prefix}-DNAT (?:-d (\\S+)/32 )?-p (tcp|udp) -m (?:tcp|udp) --dport (\\d+) ` +
      `-j DNAT --to-destination ([\\d.]+):(\\d+)$`,
  );
  const out: Published[] = [];
  for (const line of saved.rules) {
    const m = re.exec(line);
    if (!m) continue;
    out.push({
      mapping: {
        hostIp: m[1] ?? "",
        hostPort: Number(m[3]),
        containerPort: Number(m[5]),
        protocol: m[2] as "tcp" | "udp",
      },
      address: m[4],
    });
  }
  return out;
}

/**
 * The `iptables-restore --noflush` input (one transaction per table) that makes our chains hold
 * exactly `want` given what `have` shows: every chain of ours is declared (which empties it)
 * and refilled; chains no longer wanted are deleted; the jump rules are replaced only when they
 * are not exactly the wanted ones (a killed daemon may have left duplicates or old ones).
 * Undefined for a table needing no change of jumps or chains and holding nothing of ours.
 */
export function restoreScript(
  want: Record<Table, TableRules>,
  have: Record<Table, SavedTable>,
): string {
  const out: string[] = [];
  for (const t of TABLES) {
    const w = want[t];
    const h = have[t];
    if (!w.chains.length && !h.chains.length && !h.jumps.length) continue;
    out.push(`*${t}`);
    const all = [...new Set([...w.chains, ...h.chains])];
    for (const c of all) out.push(`:${c} - [0:0]`);
    const sameJumps = h.jumps.length === w.jumps.length &&
      w.jumps.every((j) => h.jumps.includes(j));
    if (!sameJumps) { for (const j of h.jumps) out.push(j.replace(/^-A /, "-D ")); }
    for (const c of all.filter((c) => !w.chains.includes(c))) out.push(`-X ${c}`);
    if (!sameJumps) {
      // Inserted first, as a built-in chain's later rules may accept or drop before them.
      for (const j of w.jumps) out.push(j.replace(/^-A (\S+) /, "-I $1 1 "));
    }
    out.push(...w.rules, "COMMIT");
  }
  return out.length ? out.join("\n") + "\n" : "";
}
