import { deepStrictEqual as assertEquals, throws } from "node:assert/strict";
import {
  contains,
  hostRange,
  intToIp,
  ipToInt,
  macForIp,
  overlaps,
  parseSubnet,
  pickSubnet,
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
