/**
 * The iptables backend of Polis's kernel rules, used where the `nft` tool is missing (or asked
 * for): isolation, outbound NAT, firewall rules and published ports in chains this daemon owns
 * (see iptables_rules.ts), regenerated whole from its state and applied with one
 * `iptables-restore --noflush` (one transaction per table), so they never drift apart. Default
 * policies, other chains and the host's own rules are never touched. Everything goes (jump
 * rules and chains) once there is no network in use and no published port.
 *
 * ```ts
 * const rules = new IptablesRules(iptablesPrefix(nftTableName(root)));
 * rules.sync(networks, { egress: false });
 * rules.add(parsePublish("8080:80"), "10.232.0.2");
 * ```
 * @module
 */

import { PolisError } from "../core/mod.ts";
import type { NatNetwork, NatOptions, NetworkRules } from "./nat.ts";
import { nft, type PortMapping, type PortRules } from "./ports.ts";
import {
  ip6tablesRules,
  iptablesPrefix,
  iptablesRules,
  type IptablesState,
  parsePublished,
  parseSaved,
  type Published,
  restoreScript,
  type SavedTable,
  type Table,
  type TableRules,
  TABLES,
} from "./iptables_rules.ts";

/** The IPv4 tools, and the IPv6 ones (filter table only: isolation and firewall rules). */
export type IptablesFamily = "iptables" | "ip6tables";
const FAMILIES: IptablesFamily[] = ["iptables", "ip6tables"];

/** Runs an iptables tool (`<family>-save` or `<family>-restore`); never throws. */
export type IptablesRunner = (
  tool: `${IptablesFamily}-${"save" | "restore"}`,
  args: string[],
) => { ok: boolean; out: string; err: string };

const NOTHING: SavedTable = { chains: [], jumps: [], rules: [] };

function run(tool: string, args: string[]): { ok: boolean; out: string; err: string } {
  try {
    const o = new Deno.Command(tool, { args, stdout: "piped", stderr: "piped" }).outputSync();
    const dec = new TextDecoder();
    return { ok: o.success, out: dec.decode(o.stdout), err: dec.decode(o.stderr).trim() };
  } catch (e) {
    const err = e instanceof Deno.errors.NotFound ? `${tool} is not installed` : String(e);
    return { ok: false, out: "", err };
  }
}

/** Whether iptables-save and iptables-restore can be run. */
export function iptablesAvailable(): boolean {
  return run("iptables-save", ["--version"]).ok && run("iptables-restore", ["--version"]).ok;
}

function key(m: PortMapping): string {
  return `${m.protocol}/${m.hostIp || "0.0.0.0"}:${m.hostPort}`;
}

/** Isolation, NAT, firewall and published ports of one daemon, in its own iptables chains. */
export class IptablesRules implements NetworkRules, PortRules {
  #nets: NatNetwork[] = [];
  #opts: NatOptions = { egress: false };
  readonly #ports = new Map<string, Published>();
  /** The last restore input applied (nothing to do while the wanted rules are the same). */
  #last: string | undefined;

  /**
   * Takes over the published ports a previous daemon on the same root left in our chain: the
   * containers behind them may still run (the engine unpublishes those that ended).
   */
  constructor(readonly prefix: string, readonly runner: IptablesRunner = run) {
    let saved: SavedTable | undefined;
    try {
      saved = this.#save("iptables", "nat");
    } catch {
      // iptables cannot list the table: the first change reports why.
    }
    for (const p of saved ? parsePublished(saved, prefix) : []) this.#ports.set(key(p.mapping), p);
  }

  #save(family: IptablesFamily, table: Table): SavedTable {
    const r = this.runner(`${family}-save`, ["-t", table]);
    if (!r.ok) throw PolisError.internal(`${family}-save -t ${table}: ${r.err}`);
    return parseSaved(r.out, this.prefix);
  }

  #state(): IptablesState {
    return { nets: this.#nets, opts: this.#opts, ports: [...this.#ports.values()] };
  }

  /** Writes our chains for the current state (also repairing jump rules left by a crash). */
  #apply(force = false): void {
    const state = this.#state();
    const want = {
      iptables: iptablesRules(this.prefix, state),
      ip6tables: ip6tablesRules(this.prefix, state),
    };
    const wanted = JSON.stringify(want);
    if (!force && wanted === this.#last) return;
    this.#last = undefined;
    for (const family of FAMILIES) this.#write(family, want[family]);
    this.#last = wanted;
  }

  #write(family: IptablesFamily, want: Record<Table, TableRules>): void {
    const v6 = family === "ip6tables";
    let err = "";
    // A concurrent change to a built-in chain can make our "-D" of a stale jump miss: retry
    // once on a fresh view.
    for (let i = 0; i < 2; i++) {
      let have: Record<Table, SavedTable>;
      try {
        have = {
          nat: v6 ? NOTHING : this.#save(family, "nat"),
          filter: this.#save(family, "filter"),
        };
      } catch (e) {
        // Without ip6tables there is nothing of ours to remove either.
        if (v6 && !want.filter.chains.length) return;
        throw e;
      }
      const script = restoreScript(want, have);
      if (!script) return;
      const file = Deno.makeTempFileSync({ prefix: "polis-iptables-" });
      try {
        Deno.writeTextFileSync(file, script);
        const r = this.runner(`${family}-restore`, ["-w", "--noflush", file]);
        if (r.ok) return;
        err = r.err;
      } finally {
        Deno.removeSync(file);
      }
    }
    throw PolisError.internal(`${family}: cannot write chains ${this.prefix}-*: ${err}`);
  }

  /** Replaces the isolation, NAT and firewall rules with those for `nets`. */
  sync(nets: NatNetwork[], opts: NatOptions): void {
    const [n, o] = [this.#nets, this.#opts];
    this.#nets = nets;
    this.#opts = opts;
    try {
      // The first sync of a daemon rebuilds everything, whatever a killed one left.
      this.#apply(this.#last === undefined);
    } catch (e) {
      [this.#nets, this.#opts] = [n, o];
      throw e;
    }
  }

  /**
   * Publishes `ports` to `containerIp`; refuses a host port already published to another
   * container (the same mapping again, as after a daemon restart, is a no-op).
   */
  add(ports: PortMapping[], containerIp: string): void {
    if (!ports.length) return;
    const taken = ports.filter((m) => {
      const had = this.#ports.get(key(m));
      return had && (had.address !== containerIp || had.mapping.containerPort !== m.containerPort);
    });
    if (taken.length) {
      const shown = taken.map((m) => `${m.hostIp || "0.0.0.0"}:${m.hostPort}/${m.protocol}`);
      throw PolisError.conflict(`port is already allocated: ${shown.join(", ")}`);
    }
    const added = ports.filter((m) => !this.#ports.has(key(m)));
    if (!added.length) return;
    for (const m of added) this.#ports.set(key(m), { mapping: m, address: containerIp });
    try {
      this.#apply();
    } catch (e) {
      for (const m of added) this.#ports.delete(key(m));
      throw e;
    }
  }

  /** Unpublishes `ports` of the container at `containerIp` (others' mappings stay). */
  remove(ports: PortMapping[], containerIp: string): void {
    let changed = false;
    for (const m of ports) {
      if (this.#ports.get(key(m))?.address !== containerIp) continue;
      this.#ports.delete(key(m));
      changed = true;
    }
    if (changed) this.#apply();
  }
}

/** Removes every chain and jump rule of `prefix` (for tests cleaning up after a killed daemon). */
export function removeIptablesChains(prefix: string, runner: IptablesRunner = run): void {
  for (const family of FAMILIES) {
    const have = {} as Record<Table, SavedTable>;
    for (const t of TABLES) {
      const r = family === "ip6tables" && t === "nat"
        ? undefined
        : runner(`${family}-save`, ["-t", t]);
      have[t] = r?.ok ? parseSaved(r.out, prefix) : NOTHING;
    }
    const none = { chains: [], rules: [], jumps: [] };
    const script = restoreScript({ nat: none, filter: none }, have);
    if (!script) continue;
    const file = Deno.makeTempFileSync({ prefix: "polis-iptables-" });
    try {
      Deno.writeTextFileSync(file, script);
      const r = runner(`${family}-restore`, ["-w", "--noflush", file]);
      if (!r.ok) throw PolisError.internal(`${family}-restore: ${r.err}`);
    } finally {
      Deno.removeSync(file);
    }
  }
}

/** Where isolation, NAT, firewall rules and published ports live. */
export type FirewallBackend = "nft" | "iptables" | "proxy";

export const FIREWALL_BACKENDS = ["auto", "nft", "iptables", "proxy"] as const;

/**
 * The backend for `want` ("auto": nft where its tool exists, else iptables, else "proxy":
 * published ports through the daemon and no kernel rules). An explicit choice whose tool is
 * missing is refused rather than quietly replaced.
 */
export function chooseFirewallBackend(
  want: string,
  has: { nft: () => boolean; iptables: () => boolean } = {
    nft: () => run("nft", ["--version"]).ok,
    iptables: iptablesAvailable,
  },
): FirewallBackend {
  switch (want) {
    case "auto":
      return has.nft() ? "nft" : has.iptables() ? "iptables" : "proxy";
    case "nft":
    case "iptables":
      if (!has[want]()) {
        throw PolisError.precondition(
          `firewall backend ${want}: the ${want} tools are not installed`,
        );
      }
      return want;
    case "proxy":
      return "proxy";
    default:
      throw PolisError.invalid(
        `invalid firewall backend "${want}": use ${FIREWALL_BACKENDS.join(", ")}`,
      );
  }
}

/**
 * Whether traffic between containers of one bridge passes iptables (br_netfilter with
 * net.bridge.bridge-nf-call-iptables=1; -ip6tables for IPv6): without it the iptables backend
 * can filter routed traffic only. Polis never changes that host-wide setting.
 */
export function bridgedTrafficFiltered(family: 4 | 6 = 4): boolean {
  const tool = family === 4 ? "iptables" : "ip6tables";
  try {
    return Deno.readTextFileSync(`/proc/sys/net/bridge/bridge-nf-call-${tool}`).trim() === "1";
  } catch {
    return false;
  }
}

/**
 * Removes what the backends not `chosen` left of this daemon (its nft tables, or its iptables
 * chains), as after a restart with another `--firewall-backend`: stale isolation or DNAT rules
 * would otherwise outlive their networks. Tools that are missing have nothing to remove.
 */
export function clearOtherBackends(chosen: FirewallBackend, nftTable: string): void {
  if (chosen !== "iptables" && iptablesAvailable()) removeIptablesChains(iptablesPrefix(nftTable));
  if (chosen !== "nft") {
    const tables = [
      `ip ${nftTable}`,
      `ip ${nftTable}_net`,
      `ip6 ${nftTable}_net`,
      `bridge ${nftTable}_net`,
    ];
    // "add" then "delete": the delete succeeds whether or not the table existed.
    const script = tables.map((t) => `add table ${t}\ndelete table ${t}\n`).join("");
    const r = nft(script);
    if (!r.ok && !/not installed/.test(r.err)) {
      throw PolisError.internal(`nftables: cannot remove tables ${nftTable}*: ${r.err}`);
    }
  }
}
