import { deepStrictEqual as assertEquals, ok, throws } from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { parseSubnet } from "./cidr.ts";
import { NetworkStore } from "./store.ts";

function withDb(fn: (path: string) => void): void {
  const dir = Deno.makeTempDirSync({ prefix: "polis-ipam-" });
  try {
    fn(`${dir}/polis.db`);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

function open(path: string): DatabaseSync {
  const db = new DatabaseSync(path);
  db.exec("PRAGMA journal_mode=WAL");
  db.exec("PRAGMA busy_timeout=5000");
  return db;
}

Deno.test("allocations are distinct, skip the gateway, and follow the last one handed out", () =>
  withDb((path) => {
    const db = open(path);
    const s = new NetworkStore(db);
    const net = s.create({ name: "n1", subnet: "10.9.0.0/24" });
    assertEquals(net.gateway, "10.9.0.1");
    const a = s.allocate(net.id, "a".repeat(64));
    const b = s.allocate(net.id, "b".repeat(64));
    assertEquals([a.address, b.address], ["10.9.0.2", "10.9.0.3"]);
    assertEquals(a.mac, "02:42:0a:09:00:02");
    assertEquals(a.hostVeth.length <= 15, true);
    // Idempotent for the same container.
    assertEquals(s.allocate(net.id, "a".repeat(64)).address, "10.9.0.2");
    s.release("a".repeat(64));
    // A just-released address is not reused at once.
    assertEquals(s.allocate(net.id, "c".repeat(64)).address, "10.9.0.4");
    db.close();
  }));

Deno.test("200 allocations from two connections in turn never repeat an address", () =>
  withDb((path) => {
    const db1 = open(path);
    const db2 = open(path);
    const s1 = new NetworkStore(db1);
    const s2 = new NetworkStore(db2);
    const net = s1.create({ name: "n", subnet: "10.9.0.0/16" });
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const s = i % 2 ? s1 : s2;
      seen.add(s.allocate(net.id, `c${i}`.padStart(64, "f")).address);
    }
    assertEquals(seen.size, 200);
    ok(!seen.has("10.9.0.1"));
    db1.close();
    db2.close();
  }));

Deno.test("requested addresses: taken, gateway, outside the subnet are refused", () =>
  withDb((path) => {
    const db = open(path);
    const s = new NetworkStore(db);
    const net = s.create({ name: "n", subnet: "10.9.0.0/24", gateway: "10.9.0.254" });
    assertEquals(s.allocate(net.id, "x".repeat(64), "10.9.0.1").address, "10.9.0.1");
    throws(() => s.allocate(net.id, "y".repeat(64), "10.9.0.1"), /already in use/);
    throws(() => s.allocate(net.id, "y".repeat(64), "10.9.0.254"), /is the gateway/);
    throws(() => s.allocate(net.id, "y".repeat(64), "10.9.1.5"), /not a usable address/);
    throws(() => s.allocate(net.id, "y".repeat(64), "10.9.0.255"), /not a usable address/);
    db.close();
  }));

Deno.test("an exhausted subnet says so; releasing frees an address again", () =>
  withDb((path) => {
    const db = open(path);
    const s = new NetworkStore(db);
    const net = s.create({ name: "tiny", subnet: "10.9.0.0/30" }); // .1 gateway, .2 only
    s.allocate(net.id, "a".repeat(64));
    throws(() => s.allocate(net.id, "b".repeat(64)), /no free address left on network tiny/);
    s.release("a".repeat(64));
    assertEquals(s.allocate(net.id, "b".repeat(64)).address, "10.9.0.2");
    db.close();
  }));

Deno.test("networks refuse duplicate names, overlapping subnets and bad gateways", () =>
  withDb((path) => {
    const db = open(path);
    const s = new NetworkStore(db);
    const n = s.create({ name: "one", subnet: "10.9.0.0/16" });
    throws(() => s.create({ name: "one", subnet: "10.10.0.0/16" }), /already exists/);
    throws(() => s.create({ name: "two", subnet: "10.9.5.0/24" }), /overlaps network one/);
    throws(
      () =>
        s.create({ name: "two", subnet: "10.11.0.0/24" }, [{
          subnet: parseSubnet("10.11.0.0/16"),
          what: "the host route 10.11.0.0/16 dev eth0",
        }]),
      /overlaps the host route/,
    );
    throws(
      () => s.create({ name: "two", subnet: "10.12.0.0/24", gateway: "10.13.0.1" }),
      /gateway/,
    );
    throws(() => s.create({ name: "bad name!", subnet: "10.12.0.0/24" }), /invalid network name/);
    assertEquals(s.find(n.id.slice(0, 6))?.name, "one");
    s.allocate(n.id, "a".repeat(64));
    throws(() => s.delete(n.id), /has active endpoints/);
    s.release("a".repeat(64));
    s.delete(n.id);
    assertEquals(s.list(), []);
    db.close();
  }));

Deno.test("a dual-stack network gives each endpoint an IPv6 address too, skipping ::1", () =>
  withDb((path) => {
    const db = open(path);
    const s = new NetworkStore(db);
    const net = s.create({ name: "d", subnet: "10.9.0.0/24", subnet6: "FD12:3456::/64" });
    assertEquals([net.subnet6, net.gateway6], ["fd12:3456::/64", "fd12:3456::1"]);
    const a = s.allocate(net.id, "a".repeat(64));
    assertEquals(
      [a.address, a.address6, a.prefixLen6, a.gateway6],
      ["10.9.0.2", "fd12:3456::2", 64, "fd12:3456::1"],
    );
    const b = s.allocate(net.id, "b".repeat(64), undefined, [], "fd12:3456::ab");
    assertEquals(b.address6, "fd12:3456::ab");
    throws(() => s.allocate(net.id, "c".repeat(64), undefined, [], "fd12:3456::AB"), /in use/);
    throws(() => s.allocate(net.id, "c".repeat(64), undefined, [], "fd12:3456::1"), /gateway/);
    throws(() => s.allocate(net.id, "c".repeat(64), undefined, [], "fd12:9::1"), /not a usable/);
    throws(() => s.allocate(net.id, "c".repeat(64), undefined, [], "fd12:3456::"), /not a usable/);
    // A refused request leaves nothing behind: the next one gets the next address.
    assertEquals(s.allocate(net.id, "c".repeat(64)).address6, "fd12:3456::3");
    assertEquals(s.allocate(net.id, "a".repeat(64)).address6, "fd12:3456::2", "idempotent");
    s.release("a".repeat(64));
    assertEquals(s.allocate(net.id, "e".repeat(64)).address6, "fd12:3456::4", "not reused at once");
    assertEquals(s.list()[0].subnet6, "fd12:3456::/64", "persisted");
    const v4 = s.create({ name: "v4", subnet: "10.8.0.0/24" });
    assertEquals(v4.subnet6, undefined);
    assertEquals(s.allocate(v4.id, "a".repeat(64)).address6, undefined);
    throws(
      () => s.allocate(v4.id, "f".repeat(64), undefined, [], "fd12::5"),
      /network v4 has no IPv6 subnet/,
    );
    db.close();
  }));

Deno.test("IPv6 allocations from two connections never repeat, near the top of a /64", () =>
  withDb((path) => {
    const db1 = open(path);
    const db2 = open(path);
    const s1 = new NetworkStore(db1);
    const s2 = new NetworkStore(db2);
    const net = s1.create({ name: "n", subnet: "10.9.0.0/16", subnet6: "fd00:1::/64" });
    // Start near the end: allocation wraps to the start instead of walking 2^64 addresses.
    db1.prepare("UPDATE network_networks SET next_addr6 = ? WHERE id = ?").run(
      "fd00:1::ffff:ffff:ffff:fffe",
      net.id,
    );
    // A requested address on the way is skipped.
    s1.allocate(net.id, "z".repeat(64), undefined, [], "fd00:1::3");
    const seen = new Set<string>();
    for (let i = 0; i < 100; i++) {
      const s = i % 2 ? s1 : s2;
      seen.add(s.allocate(net.id, `c${i}`.padStart(64, "f")).address6!);
    }
    assertEquals(seen.size, 100);
    ok(seen.has("fd00:1::ffff:ffff:ffff:fffe") && seen.has("fd00:1::ffff:ffff:ffff:ffff"));
    ok(seen.has("fd00:1::2"), "wrapped around");
    ok(!seen.has("fd00:1::1") && !seen.has("fd00:1::") && !seen.has("fd00:1::3"));
    db1.close();
    db2.close();
  }));

Deno.test("IPv6: exhaustion, overlap, bad subnets and gateways are refused clearly", () =>
  withDb((path) => {
    const db = open(path);
    const s = new NetworkStore(db);
    const tiny = s.create({ name: "tiny", subnet: "10.9.0.0/24", subnet6: "fd00:2::/126" });
    for (const c of ["a", "b"]) s.allocate(tiny.id, c.repeat(64)); // ::2, ::3 (::1 gateway)
    throws(
      () => s.allocate(tiny.id, "c".repeat(64)),
      /no free IPv6 address left on network tiny \(fd00:2::\/126 is exhausted\)/,
    );
    assertEquals(s.endpointsOf(tiny.id).length, 2, "nothing half-made");
    throws(
      () => s.create({ name: "o", subnet: "10.10.0.0/24", subnet6: "fd00:2::/64" }),
      /subnet fd00:2::\/64 overlaps network tiny \(fd00:2::\/126\)/,
    );
    throws(
      () => s.create({ name: "o", subnet: "10.10.0.0/24", subnet6: "fd00:3::1/64" }),
      /host bits are set \(did you mean fd00:3::\/64\?\)/,
    );
    throws(() => s.create({ name: "o", subnet: "10.10.0.0/24", subnet6: "fd00:zz::/64" }), /IPv6/);
    throws(() => s.create({ name: "o", subnet: "10.10.0.0/24", subnet6: "10.1.0.0/16" }), /IPv6/);
    throws(
      () =>
        s.create({
          name: "o",
          subnet: "10.10.0.0/24",
          subnet6: "fd00:4::/64",
          gateway6: "fd00:5::1",
        }),
      /gateway fd00:5::1 is not a usable address of subnet fd00:4::\/64/,
    );
    throws(
      () => s.create({ name: "o", subnet: "10.10.0.0/24", gateway6: "fd00:5::1" }),
      /needs an IPv6 subnet/,
    );
    assertEquals(s.list().map((n) => n.name), ["tiny"]);
    const g = s.create({
      name: "g",
      subnet: "10.10.0.0/24",
      subnet6: "fd00:4::/64",
      gateway6: "fd00:4::fe",
    });
    assertEquals(g.gateway6, "fd00:4::fe");
    db.close();
  }));
