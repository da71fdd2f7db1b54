/**
 * Networks and their address allocations, persisted in the engine's SQLite database (tables
 * prefixed `network_`). Every allocation runs in a BEGIN IMMEDIATE transaction and the
 * (network, address) pair is UNIQUE, so no address is handed out twice even by concurrent
 * connections. The gateway, network and broadcast addresses are never allocated.
 *
 * A dual-stack network also has an IPv6 subnet: each endpoint then gets an IPv6 address too,
 * stored as canonical text, UNIQUE per network likewise. IPv6 allocation walks forward from the
 * last address handed out and probes only as many addresses as the network has endpoints
 * (plus the gateway), so a /64 is never enumerated.
 * @module
 */

import type { DatabaseSync } from "node:sqlite";
import { newId, PolisError } from "../core/mod.ts";
import {
  bigToIp6,
  contains,
  contains6,
  hostRange,
  hostRange6,
  intToIp,
  ip6ToBig,
  ipToInt,
  macForIp,
  overlaps,
  overlaps6,
  parseSubnet,
  parseSubnet6,
  type Subnet,
  type Subnet6,
  subnet6Text,
  subnetText,
} from "./cidr.ts";
import { type FirewallRule, validateRule } from "./firewall.ts";

export interface NetworkRecord {
  id: string;
  name: string;
  /** The Linux bridge device. */
  bridge: string;
  subnet: string;
  gateway: string;
  /** No default route out of the network (and, later, no NAT). */
  internal: boolean;
  created: string;
  labels: Record<string, string>;
  /** The IPv6 subnet and gateway of a dual-stack network (`--ipv6`). */
  subnet6?: string;
  gateway6?: string;
}

/** A container's place on a network. */
export interface Endpoint {
  networkId: string;
  containerId: string;
  address: string;
  prefixLen: number;
  gateway: string;
  mac: string;
  /** The host side of the veth pair. */
  hostVeth: string;
  /** The interface name inside the container. */
  ifname: string;
  /** Extra names of the container on this network (`--network-alias`), for the DNS. */
  aliases: string[];
  /** On a dual-stack network: the IPv6 address, its prefix length and the IPv6 gateway. */
  address6?: string;
  prefixLen6?: number;
  gateway6?: string;
}

/** A firewall rule as stored: of a network, or of one container on it. */
export interface StoredRule {
  id: string;
  networkId: string;
  containerId?: string;
  rule: FirewallRule;
  created: string;
}

export interface NewNetwork {
  name: string;
  bridge?: string;
  subnet: string;
  gateway?: string;
  internal?: boolean;
  labels?: Record<string, string>;
  id?: string;
  /** IPv6 subnet (makes the network dual-stack) and its gateway (default: its ::1). */
  subnet6?: string;
  gateway6?: string;
}

interface NetworkRow {
  id: string;
  name: string;
  bridge: string;
  subnet: string;
  gateway: string;
  internal: number;
  created: string;
  labels: string;
  next_addr: number;
  subnet6: string | null;
  gateway6: string | null;
  next_addr6: string | null;
}

interface EndpointRow {
  network_id: string;
  container_id: string;
  addr: number;
  mac: string;
  host_veth: string;
  ifname: string;
  aliases: string;
  addr6: string | null;
}

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;

/** Runs `fn` in a write transaction; writers queue on the database lock instead of failing. */
function transaction<T>(db: DatabaseSync, fn: () => T): T {
  db.exec("BEGIN IMMEDIATE");
  try {
    const r = fn();
    db.exec("COMMIT");
    return r;
  } catch (e) {
    db.exec("ROLLBACK");
    throw e;
  }
}

function fromRow(r: NetworkRow): NetworkRecord {
  return {
    id: r.id,
    name: r.name,
    bridge: r.bridge,
    subnet: r.subnet,
    gateway: r.gateway,
    internal: r.internal !== 0,
    created: r.created,
    labels: JSON.parse(r.labels),
    ...(r.subnet6 ? { subnet6: r.subnet6, gateway6: r.gateway6 ?? "" } : {}),
  };
}

export class NetworkStore {
  constructor(readonly db: DatabaseSync) {
    db.exec(`CREATE TABLE IF NOT EXISTS network_networks (
      id TEXT PRIMARY KEY,
      name TEXT NOT NULL UNIQUE,
      bridge TEXT NOT NULL UNIQUE,
      subnet TEXT NOT NULL,
      gateway TEXT NOT NULL,
      internal INTEGER NOT NULL DEFAULT 0,
      created TEXT NOT NULL,
      labels TEXT NOT NULL DEFAULT '{}',
      next_addr INTEGER NOT NULL DEFAULT 0
    )`);
    db.exec(`CREATE TABLE IF NOT EXISTS network_endpoints (
      network_id TEXT NOT NULL REFERENCES network_networks(id),
      container_id TEXT NOT NULL,
      addr INTEGER NOT NULL,
      mac TEXT NOT NULL,
      host_veth TEXT NOT NULL,
      ifname TEXT NOT NULL,
      PRIMARY KEY (network_id, container_id),
      UNIQUE (network_id, addr)
    )`);
    const cols = db.prepare("PRAGMA table_info(network_endpoints)").all() as unknown as {
      name: string;
    }[];
    db.exec(`CREATE TABLE IF NOT EXISTS network_firewall (
      id TEXT PRIMARY KEY,
      network_id TEXT NOT NULL,
      container_id TEXT,
      rule TEXT NOT NULL,
      created TEXT NOT NULL
    )`);
    if (!cols.some((c) => c.name === "aliases")) {
      db.exec("ALTER TABLE network_endpoints ADD COLUMN aliases TEXT NOT NULL DEFAULT '[]'");
    }
    if (!cols.some((c) => c.name === "addr6")) {
      db.exec("ALTER TABLE network_endpoints ADD COLUMN addr6 TEXT");
    }
    // NULLs are distinct in a UNIQUE index: IPv4-only endpoints never collide here.
    db.exec(`CREATE UNIQUE INDEX IF NOT EXISTS network_endpoints_addr6
      ON network_endpoints (network_id, addr6)`);
    const netCols = db.prepare("PRAGMA table_info(network_networks)").all() as unknown as {
      name: string;
    }[];
    for (const col of ["subnet6", "gateway6", "next_addr6"]) {
      if (!netCols.some((c) => c.name === col)) {
        db.exec(`ALTER TABLE network_networks ADD COLUMN ${col} TEXT`);
      }
    }
  }

  /**
   * Records a network. Refuses a duplicate name and a subnet overlapping another network's;
   * `alsoTaken` are further subnets in use on the host (its routes), checked the same way.
   */
  create(
    n: NewNetwork,
    alsoTaken: { subnet: Subnet; what: string }[] = [],
    alsoTaken6: { subnet: Subnet6; what: string }[] = [],
  ): NetworkRecord {
    if (!NAME.test(n.name)) {
      throw PolisError.invalid(
        `invalid network name "${n.name}": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`,
      );
    }
    const subnet = parseSubnet(n.subnet);
    const { first, last } = hostRange(subnet);
    const gateway = n.gateway !== undefined ? ipToInt(n.gateway) : first;
    if (!contains(subnet, gateway) || gateway < first || gateway > last) {
      throw PolisError.invalid(
        `gateway ${intToIp(gateway)} is not a usable address of subnet ${n.subnet}`,
      );
    }
    const v6 = n.subnet6 !== undefined ? checkSubnet6(n.subnet6, n.gateway6) : undefined;
    if (!v6 && n.gateway6 !== undefined) {
      throw PolisError.invalid(`IPv6 gateway ${n.gateway6} needs an IPv6 subnet`);
    }
    const id = n.id ?? newId();
    const rec: NetworkRecord = {
      id,
      name: n.name,
      bridge: n.bridge ?? `pbr-${id.slice(0, 11)}`,
      subnet: subnetText(subnet),
      gateway: intToIp(gateway),
      internal: n.internal ?? false,
      created: new Date().toISOString(),
      labels: n.labels ?? {},
      ...(v6 ? { subnet6: subnet6Text(v6.subnet), gateway6: bigToIp6(v6.gateway) } : {}),
    };
    return transaction(this.db, () => {
      if (this.#byName(n.name)) {
        throw PolisError.conflict(`network with name ${n.name} already exists`);
      }
      for (const other of this.list()) {
        if (overlaps(parseSubnet(other.subnet), subnet)) {
          throw PolisError.conflict(
            `subnet ${rec.subnet} overlaps network ${other.name} (${other.subnet})`,
          );
        }
      }
      for (const t of alsoTaken) {
        if (overlaps(t.subnet, subnet)) {
          throw PolisError.conflict(`subnet ${rec.subnet} overlaps ${t.what}`);
        }
      }
      if (v6) {
        for (const other of this.list()) {
          if (other.subnet6 && overlaps6(parseSubnet6(other.subnet6), v6.subnet)) {
            throw PolisError.conflict(
              `subnet ${rec.subnet6} overlaps network ${other.name} (${other.subnet6})`,
            );
          }
        }
        for (const t of alsoTaken6) {
          if (overlaps6(t.subnet, v6.subnet)) {
            throw PolisError.conflict(`subnet ${rec.subnet6} overlaps ${t.what}`);
          }
        }
      }
      this.db.prepare(
        `INSERT INTO network_networks
           (id, name, bridge, subnet, gateway, internal, created, labels, subnet6, gateway6)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ).run(
        rec.id,
        rec.name,
        rec.bridge,
        rec.subnet,
        rec.gateway,
        rec.internal ? 1 : 0,
        rec.created,
        JSON.stringify(rec.labels),
        rec.subnet6 ?? null,
        rec.gateway6 ?? null,
      );
      return rec;
    });
  }

  list(): NetworkRecord[] {
    return (this.db.prepare("SELECT * FROM network_networks ORDER BY created, name")
      .all() as unknown as NetworkRow[]).map(fromRow);
  }

  #byName(name: string): NetworkRow | undefined {
    return this.db.prepare("SELECT * FROM network_networks WHERE name = ?").get(name) as
      | NetworkRow
      | undefined;
  }

  /** By exact name, full id, or unique id prefix (as docker resolves networks). */
  find(ref: string): NetworkRecord | undefined {
    const byName = this.#byName(ref);
    if (byName) return fromRow(byName);
    const byId = this.db.prepare("SELECT * FROM network_networks WHERE id = ?").get(ref) as
      | NetworkRow
      | undefined;
    if (byId) return fromRow(byId);
    if (/^[0-9a-f]+$/.test(ref)) {
      const rows = this.db.prepare("SELECT * FROM network_networks WHERE id LIKE ? LIMIT 2")
        .all(`${ref}%`) as unknown as NetworkRow[];
      if (rows.length === 1) return fromRow(rows[0]);
      if (rows.length > 1) {
        throw PolisError.invalid(`multiple networks match the prefix "${ref}": be more specific`);
      }
    }
    return undefined;
  }

  get(ref: string): NetworkRecord {
    const n = this.find(ref);
    if (!n) throw PolisError.notFound(`network ${ref} not found`);
    return n;
  }

  /** Adds a firewall rule to a network (or to one container on it); returns its id. */
  addFirewallRule(networkId: string, rule: FirewallRule, containerId?: string): StoredRule {
    const r: StoredRule = {
      id: newId().slice(0, 16),
      networkId,
      ...(containerId ? { containerId } : {}),
      rule: validateRule(rule),
      created: new Date().toISOString(),
    };
    this.db.prepare(
      "INSERT INTO network_firewall (id, network_id, container_id, rule, created) VALUES (?, ?, ?, ?, ?)",
    ).run(r.id, networkId, containerId ?? null, JSON.stringify(r.rule), r.created);
    return r;
  }

  /** A network's firewall rules, in the order they were added. */
  firewallRules(networkId: string): StoredRule[] {
    const rows = this.db.prepare(
      "SELECT * FROM network_firewall WHERE network_id = ? ORDER BY created, rowid",
    ).all(networkId) as unknown as {
      id: string;
      network_id: string;
      container_id: string | null;
      rule: string;
      created: string;
    }[];
    return rows.map((r) => ({
      id: r.id,
      networkId: r.network_id,
      ...(r.container_id ? { containerId: r.container_id } : {}),
      rule: JSON.parse(r.rule),
      created: r.created,
    }));
  }

  /** Deletes one rule of a network; false when it has no such rule. */
  deleteFirewallRule(networkId: string, id: string): boolean {
    const r = this.db.prepare("DELETE FROM network_firewall WHERE network_id = ? AND id = ?").run(
      networkId,
      id,
    );
    return Number(r.changes) > 0;
  }

  /** Deletes a network record; refuses while containers are attached. */
  delete(id: string): void {
    transaction(this.db, () => {
      const users = this.endpointsOf(id);
      if (users.length) {
        const net = this.get(id);
        throw PolisError.conflict(
          `error while removing network: network ${net.name} id ${id} has active endpoints ` +
            `(${users.map((e) => e.containerId.slice(0, 12)).join(", ")})`,
        );
      }
      this.db.prepare("DELETE FROM network_networks WHERE id = ?").run(id);
      this.db.prepare("DELETE FROM network_firewall WHERE network_id = ?").run(id);
    });
  }

  /**
   * Gives `containerId` an address on network `networkId`: `requested` if given (and free),
   * else the next free one after the last handed out (so a just-released address is not
   * reused at once). Idempotent: a container that has an address keeps it.
   */
  allocate(
    networkId: string,
    containerId: string,
    requested?: string,
    aliases: string[] = [],
    requested6?: string,
  ): Endpoint {
    return transaction(this.db, () => {
      const row = this.db.prepare("SELECT * FROM network_networks WHERE id = ?").get(networkId) as
        | NetworkRow
        | undefined;
      if (!row) throw PolisError.notFound(`network ${networkId} not found`);
      const existing = this.#endpointRow(networkId, containerId);
      if (existing) return this.#endpoint(row, existing);
      if (requested6 !== undefined && !row.subnet6) {
        throw PolisError.invalid(
          `network ${row.name} has no IPv6 subnet: --ip6 needs a network created with --ipv6`,
        );
      }
      // IPv6 first: it only reads, so a refusal leaves next_addr untouched too.
      const addr6 = row.subnet6 ? this.#pick6(row, requested6) : null;
      if (addr6 !== null && requested6 === undefined) {
        const next = addr6 + 1n;
        this.db.prepare("UPDATE network_networks SET next_addr6 = ? WHERE id = ?").run(
          next < 1n << 128n ? bigToIp6(next) : null,
          networkId,
        );
      }
      const subnet = parseSubnet(row.subnet);
      const { first, last } = hostRange(subnet);
      const gateway = ipToInt(row.gateway);
      const used = new Set(
        (this.db.prepare("SELECT addr FROM network_endpoints WHERE network_id = ?").all(
          networkId,
        ) as unknown as { addr: number }[]).map((r) => r.addr),
      );
      let addr: number | undefined;
      if (requested !== undefined) {
        const want = ipToInt(requested);
        const usable = contains(subnet, want) && want >= first && want <= last;
        addr = checkRequested(requested, want, { usable, gateway, used, row, subnet: row.subnet });
      } else {
        const count = last - first + 1;
        const start = row.next_addr >= first && row.next_addr <= last ? row.next_addr : first;
        for (let i = 0; i < count; i++) {
          const a = first + ((start - first + i) % count);
          if (a !== gateway && !used.has(a)) {
            addr = a;
            break;
          }
        }
        if (addr === undefined) {
          throw new PolisError(
            "unavailable",
            `no free address left on network ${row.name} (${row.subnet} is exhausted)`,
          );
        }
        this.db.prepare("UPDATE network_networks SET next_addr = ? WHERE id = ?").run(
          addr + 1,
          networkId,
        );
      }
      const ep: EndpointRow = {
        network_id: networkId,
        container_id: containerId,
        addr,
        mac: macForIp(addr),
        host_veth: `pv${containerId.slice(0, 8)}${networkId.slice(0, 5)}`,
        ifname: this.#nextIfname(containerId),
        aliases: JSON.stringify(aliases),
        addr6: addr6 === null ? null : bigToIp6(addr6),
      };
      this.db.prepare(
        `INSERT INTO network_endpoints
           (network_id, container_id, addr, mac, host_veth, ifname, aliases, addr6)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      ).run(
        ep.network_id,
        ep.container_id,
        ep.addr,
        ep.mac,
        ep.host_veth,
        ep.ifname,
        ep.aliases,
        ep.addr6,
      );
      return this.#endpoint(row, ep);
    });
  }

  /**
   * An IPv6 address for a new endpoint of `row` (inside the caller's transaction): `requested`
   * if usable and free, else the first free one from `next_addr6` on. Reads only the
   * network's own endpoints: at most their number + 2 candidates are probed.
   */
  #pick6(row: NetworkRow, requested?: string): bigint {
    const subnet = parseSubnet6(row.subnet6!);
    const { first, last } = hostRange6(subnet);
    const gateway = ip6ToBig(row.gateway6!);
    const used = new Set(
      (this.db.prepare(
        "SELECT addr6 FROM network_endpoints WHERE network_id = ? AND addr6 IS NOT NULL",
      ).all(row.id) as unknown as { addr6: string }[]).map((r) => ip6ToBig(r.addr6)),
    );
    if (requested !== undefined) {
      const want = ip6ToBig(requested);
      const usable = contains6(subnet, want) && want >= first && want <= last;
      return checkRequested(requested, want, { usable, gateway, used, row, subnet: row.subnet6! });
    }
    const count = last - first + 1n;
    let start = first;
    if (row.next_addr6) {
      const n = ip6ToBig(row.next_addr6);
      if (n >= first && n <= last) start = n;
    }
    // Every taken address (the endpoints' and the gateway) can block one candidate only.
    const probes = BigInt(used.size) + 2n < count ? BigInt(used.size) + 2n : count;
    for (let i = 0n; i < probes; i++) {
      const a = first + ((start - first + i) % count);
      if (a !== gateway && !used.has(a)) return a;
    }
    throw new PolisError(
      "unavailable",
      `no free IPv6 address left on network ${row.name} (${row.subnet6} is exhausted)`,
    );
  }

  /** Releases every address `containerId` holds; returns what was released. */
  release(containerId: string): Endpoint[] {
    return transaction(this.db, () => {
      const eps = this.endpointsOfContainer(containerId);
      this.db.prepare("DELETE FROM network_endpoints WHERE container_id = ?").run(containerId);
      this.db.prepare("DELETE FROM network_firewall WHERE container_id = ?").run(containerId);
      return eps;
    });
  }

  /** eth0, eth1, …: the first name no other endpoint of the container has. */
  #nextIfname(containerId: string): string {
    const used = new Set(
      (this.db.prepare("SELECT ifname FROM network_endpoints WHERE container_id = ?").all(
        containerId,
      ) as unknown as { ifname: string }[]).map((r) => r.ifname),
    );
    let i = 0;
    while (used.has(`eth${i}`)) i++;
    return `eth${i}`;
  }

  /** Releases the container's address on one network; returns it (undefined if none). */
  releaseOne(networkId: string, containerId: string): Endpoint | undefined {
    return transaction(this.db, () => {
      const row = this.#endpointRow(networkId, containerId);
      if (!row) return undefined;
      const net = this.db.prepare("SELECT * FROM network_networks WHERE id = ?").get(
        networkId,
      ) as unknown as NetworkRow;
      this.db.prepare("DELETE FROM network_endpoints WHERE network_id = ? AND container_id = ?")
        .run(networkId, containerId);
      return this.#endpoint(net, row);
    });
  }

  endpointsOf(networkId: string): Endpoint[] {
    const row = this.db.prepare("SELECT * FROM network_networks WHERE id = ?").get(networkId) as
      | NetworkRow
      | undefined;
    if (!row) return [];
    return (this.db.prepare("SELECT * FROM network_endpoints WHERE network_id = ? ORDER BY addr")
      .all(networkId) as unknown as EndpointRow[]).map((e) => this.#endpoint(row, e));
  }

  endpointsOfContainer(containerId: string): Endpoint[] {
    const rows = this.db.prepare(
      "SELECT * FROM network_endpoints WHERE container_id = ? ORDER BY ifname",
    ).all(
      containerId,
    ) as unknown as EndpointRow[];
    return rows.map((e) => {
      const row = this.db.prepare("SELECT * FROM network_networks WHERE id = ?").get(
        e.network_id,
      ) as unknown as NetworkRow;
      return this.#endpoint(row, e);
    });
  }

  #endpointRow(networkId: string, containerId: string): EndpointRow | undefined {
    return this.db.prepare(
      "SELECT * FROM network_endpoints WHERE network_id = ? AND container_id = ?",
    ).get(networkId, containerId) as EndpointRow | undefined;
  }

  #endpoint(net: NetworkRow, e: EndpointRow): Endpoint {
    return {
      networkId: e.network_id,
      containerId: e.container_id,
      address: intToIp(e.addr),
      prefixLen: parseSubnet(net.subnet).prefix,
      gateway: net.gateway,
      mac: e.mac,
      hostVeth: e.host_veth,
      ifname: e.ifname,
      aliases: JSON.parse(e.aliases ?? "[]"),
      ...(e.addr6 && net.subnet6
        ? {
          address6: e.addr6,
          prefixLen6: parseSubnet6(net.subnet6).prefix,
          gateway6: net.gateway6 ?? "",
        }
        : {}),
    };
  }
}

/** An IPv6 subnet and its gateway (default: the subnet's ::1), checked. */
function checkSubnet6(text: string, gatewayText?: string): { subnet: Subnet6; gateway: bigint } {
  const subnet = parseSubnet6(text);
  const { first, last } = hostRange6(subnet);
  const gateway = gatewayText !== undefined ? ip6ToBig(gatewayText) : first;
  if (!contains6(subnet, gateway) || gateway < first || gateway > last) {
    throw PolisError.invalid(
      `gateway ${gatewayText} is not a usable address of subnet ${subnet6Text(subnet)}`,
    );
  }
  return { subnet, gateway };
}

/**
 * `want`, the address a user asked for (`requested` as typed), when it may be given out: refused
 * when it is not a usable host address of the subnet, is the gateway, or is taken. One check for
 * IPv4 (numbers) and IPv6 (bigints).
 */
function checkRequested<T extends number | bigint>(
  requested: string,
  want: T,
  o: { usable: boolean; gateway: T; used: Set<T>; row: NetworkRow; subnet: string },
): T {
  if (!o.usable) {
    throw PolisError.invalid(
      `address ${requested} is not a usable address of network ${o.row.name} (${o.subnet})`,
    );
  }
  if (want === o.gateway) {
    throw PolisError.conflict(`address ${requested} is the gateway of network ${o.row.name}`);
  }
  if (o.used.has(want)) {
    throw PolisError.conflict(`address ${requested} is already in use on network ${o.row.name}`);
  }
  return want;
}
