import { deepStrictEqual as assertEquals, ok, throws } from "node:assert/strict";
import {
  bigToIp6,
  canonicalIp6,
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
  pickSubnet,
  pickSubnet6,
  subnet6Text,
  subnetText,
} from "./cidr.ts";

Deno.test("subnets parse, refuse host bits and bad text, and print back", () => {
  assertEquals(parseSubnet("10.1.0.0/16"), { base: ipToInt("10.1.0.0"), prefix: 16 });
  assertEquals(subnetText(parseSubnet("172.31.0.0/16")), "172.31.0.0/16");
  throws(() => parseSubnet("10.1.0.1/16"), /host bits are set \(did you mean 10.1.0.0\/16\?\)/);
  throws(() => parseSubnet("10.1.0.0"), /invalid subnet/);
  throws(() => parseSubnet("10.1.0.0/33"), /invalid subnet/);
  throws(() => parseSubnet("10.1.0.0/31"), /too small/);
  throws(() => ipToInt("10.1.0.300"), /invalid IPv4/);
});

Deno.test("membership, overlap and the usable host range", () => {
  const s = parseSubnet("10.1.2.0/24");
  assertEquals(contains(s, ipToInt("10.1.2.255")), true);
  assertEquals(contains(s, ipToInt("10.1.3.0")), false);
  assertEquals(overlaps(s, parseSubnet("10.1.0.0/16")), true);
  assertEquals(overlaps(s, parseSubnet("10.1.3.0/24")), false);
  const r = hostRange(s);
  assertEquals([intToIp(r.first), intToIp(r.last)], ["10.1.2.1", "10.1.2.254"]);
  assertEquals(intToIp(ipToInt("255.255.255.255")), "255.255.255.255");
});

Deno.test("MACs follow docker's 02:42 + address scheme", () => {
  assertEquals(macForIp(ipToInt("172.17.0.2")), "02:42:ac:11:00:02");
});

Deno.test("a free subnet is picked from the pool around those taken", () => {
  const pool = parseSubnet("10.232.0.0/22");
  const taken = [parseSubnet("10.232.0.0/24"), parseSubnet("10.232.1.128/25")];
  assertEquals(subnetText(pickSubnet(pool, 24, taken)!), "10.232.2.0/24");
  assertEquals(pickSubnet(pool, 24, [parseSubnet("10.0.0.0/8")]), undefined);
});

Deno.test("IPv6 subnets parse to bigints, refuse host bits, and pick without enumerating", () => {
  const s = parseSubnet6("fd12:3456::/64");
  assertEquals(s, { base: ip6ToBig("fd12:3456::"), prefix: 64 });
  assertEquals(subnet6Text(s), "fd12:3456::/64");
  assertEquals(bigToIp6(hostRange6(s).last), "fd12:3456::ffff:ffff:ffff:ffff");
  assertEquals(canonicalIp6("FD12:0:0::01"), "fd12::1");
  ok(contains6(s, ip6ToBig("fd12:3456::99")));
  ok(!contains6(s, ip6ToBig("fd12:3457::1")));
  ok(overlaps6(parseSubnet6("fd12::/16"), s));
  ok(!overlaps6(parseSubnet6("fd12:3457::/64"), s));
  throws(() => parseSubnet6("fd12:3456::1/64"), /did you mean fd12:3456::\/64/);
  throws(() => parseSubnet6("10.0.0.0/8"), /expected an IPv6 CIDR/);
  throws(() => parseSubnet6("fd12::/129"), /expected an IPv6 CIDR/);
  throws(() => parseSubnet6("fd12::/127"), /too small/);
  assertEquals(parseSubnet6("fd12::/126").prefix, 126);
  throws(() => ip6ToBig("10.0.0.1"), /invalid IPv6 address/);
  const pool = parseSubnet6("fd70::/48");
  assertEquals(
    subnet6Text(
      pickSubnet6(pool, 64, [parseSubnet6("fd70::/63"), parseSubnet6("fd70:0:0:3::/64")])!,
    ),
    "fd70:0:0:2::/64",
  );
  assertEquals(pickSubnet6(pool, 64, [parseSubnet6("fd70::/40")]), undefined);
});
