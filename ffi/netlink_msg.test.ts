import { deepStrictEqual as assertEquals, throws } from "node:assert/strict";
import {
  IFLA_IFNAME,
  IFLA_INFO_DATA,
  IFLA_INFO_KIND,
  IFLA_LINKINFO,
  ipBytes,
  ipText,
  macBytes,
  macText,
  MessageBuilder,
  NLM_F_ACK_TLVS,
  NLM_F_CAPPED,
  NLM_F_CREATE,
  NLM_F_EXCL,
  NLMSG_ERROR,
  parseAddr,
  parseError,
  parseLink,
  parseMessages,
  parseRoute,
  RTM_NEWADDR,
  RTM_NEWLINK,
  RTM_NEWROUTE,
  VETH_INFO_PEER,
} from "./netlink_msg.ts";

function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

function bytes(h: string): Uint8Array {
  const clean = h.replace(/\s+/g, "");
  return new Uint8Array(clean.match(/../g)!.map((x) => parseInt(x, 16)));
}

Deno.test("a bridge request encodes header, ifinfomsg and a nested kind, 4-byte aligned", () => {
  const b = new MessageBuilder(RTM_NEWLINK, 0x5 | NLM_F_CREATE | NLM_F_EXCL).ifinfomsg({});
  b.attrString(IFLA_IFNAME, "br0");
  b.nest(IFLA_LINKINFO, () => b.attrString(IFLA_INFO_KIND, "bridge"));
  assertEquals(
    hex(b.finish(7)),
    "38000000" + "1000" + "0506" + "07000000" + "00000000" + // nlmsghdr: len 56, NEWLINK
      "00000000" + "00000000" + "00000000" + "00000000" + // ifinfomsg
      "0800" + "0300" + "62723000" + // IFLA_IFNAME "br0\0"
      "1000" + "1280" + // IFLA_LINKINFO, nested (0x8000 | 18), len 16
      "0b00" + "0100" + "6272696467650000", // IFLA_INFO_KIND "bridge\0" + 1 pad byte
  );
});

Deno.test("a veth peer nests an ifinfomsg inside VETH_INFO_PEER", () => {
  const b = new MessageBuilder(RTM_NEWLINK, 0).ifinfomsg({});
  b.nest(IFLA_LINKINFO, () => {
    b.attrString(IFLA_INFO_KIND, "veth");
    b.nest(IFLA_INFO_DATA, () => {
      b.nest(VETH_INFO_PEER, () => {
        b.ifinfomsg({});
        b.attrString(IFLA_IFNAME, "p");
      });
    });
  });
  const msg = b.finish(1);
  const [m] = parseMessages(msg);
  // linkinfo(4) + kind(4+5→12) + data(4) + peer(4) + ifinfomsg(16) + name(4+2→8)
  assertEquals(m.body.length, 16 + 4 + 12 + 4 + 4 + 16 + 8);
  assertEquals(hex(m.body.subarray(16 + 4 + 12, 16 + 4 + 12 + 8)), "20000280" + "1c000180");
});

Deno.test("an error reply yields errno, the ext-ack text and the offending offset", () => {
  // nlmsgerr: error -17, echoed header (capped), then NLMSGERR_ATTR_MSG and _OFFS.
  const text = "ipv4: Address already assigned";
  const t = new TextEncoder().encode(text + "\0");
  const attrLen = 4 + t.length;
  const padded = (attrLen + 3) & ~3;
  const body = new Uint8Array(4 + 16 + padded + 8);
  const v = new DataView(body.buffer);
  v.setInt32(0, -17, true);
  v.setUint32(4, 40, true); // echoed header says 40 bytes, but capped: only 16 present
  v.setUint16(20, attrLen, true);
  v.setUint16(22, 1, true);
  body.set(t, 24);
  v.setUint16(20 + padded, 8, true);
  v.setUint16(22 + padded, 2, true);
  v.setUint32(24 + padded, 32, true);
  const err = parseError({
    type: NLMSG_ERROR,
    flags: NLM_F_CAPPED | NLM_F_ACK_TLVS,
    seq: 1,
    pid: 0,
    body,
  });
  assertEquals(err, { errno: 17, message: text, offset: 32 });
  assertEquals(
    parseError({ type: NLMSG_ERROR, flags: 0, seq: 1, pid: 0, body: bytes("00000000") }),
    {
      errno: 0,
    },
  );
});

Deno.test("a link reply parses name, flags, mtu, mac, master, kind and 64-bit counters", () => {
  const b = new MessageBuilder(RTM_NEWLINK, 0).ifinfomsg({ index: 9, flags: 0x11043 });
  b.attrString(IFLA_IFNAME, "pv0");
  b.attrU32(4, 1500);
  b.attr(1, macBytes("02:42:0a:00:00:02"));
  b.attrU32(10, 8);
  b.nest(IFLA_LINKINFO, () => b.attrString(IFLA_INFO_KIND, "veth"));
  const stats = new BigUint64Array(24);
  stats.set([5n, 6n, 500n, 600n, 1n, 2n, 3n, 4n]);
  b.attr(23, new Uint8Array(stats.buffer));
  const [m] = parseMessages(b.finish(1));
  assertEquals(parseLink(m), {
    index: 9,
    name: "pv0",
    flags: 0x11043,
    up: true,
    mtu: 1500,
    mac: "02:42:0a:00:00:02",
    master: 8,
    kind: "veth",
    stats: {
      rxPackets: 5,
      txPackets: 6,
      rxBytes: 500,
      txBytes: 600,
      rxErrors: 1,
      txErrors: 2,
      rxDropped: 3,
      txDropped: 4,
    },
  });
});

Deno.test("address and route replies parse into text addresses and prefixes", () => {
  const a = new MessageBuilder(RTM_NEWADDR, 0).ifaddrmsg({ family: 2, prefixLen: 24, index: 3 });
  a.attr(2, ipBytes("10.1.2.3"));
  a.attrString(3, "eth0");
  assertEquals(parseAddr(parseMessages(a.finish(1))[0]), {
    family: 2,
    prefixLen: 24,
    scope: 0,
    index: 3,
    address: "10.1.2.3",
    flags: 0,
    label: "eth0",
  });
  const r = new MessageBuilder(RTM_NEWROUTE, 0).rtmsg({ family: 2, dstLen: 0, protocol: 4 });
  r.attr(5, ipBytes("10.1.2.1"));
  r.attrU32(4, 3);
  assertEquals(parseRoute(parseMessages(r.finish(1))[0]), {
    family: 2,
    dstLen: 0,
    table: 254,
    protocol: 4,
    scope: 0,
    type: 1,
    dst: "default",
    gateway: "10.1.2.1",
    oif: 3,
  });
});

Deno.test("several messages in one datagram split; a bad length throws instead of looping", () => {
  const one = new MessageBuilder(3, 2).finish(5);
  const two = new MessageBuilder(3, 2).finish(6);
  const both = new Uint8Array([...one, ...two]);
  assertEquals(parseMessages(both).map((m) => m.seq), [5, 6]);
  throws(() => parseMessages(bytes("08000000 0300 0000 01000000 00000000")), /malformed/);
});

Deno.test("IP and MAC addresses convert both ways; bad ones are refused", () => {
  assertEquals(ipText(ipBytes("172.31.0.1")), "172.31.0.1");
  assertEquals(ipText(ipBytes("fd00::2")), "fd00::2");
  assertEquals(ipText(ipBytes("2001:db8:0:0:1:0:0:1")), "2001:db8::1:0:0:1");
  assertEquals(ipText(ipBytes("::")), "::");
  assertEquals(hex(ipBytes("::ffff:10.0.0.1")), "00000000000000000000ffff0a000001");
  assertEquals(macText(macBytes("02:42:AC:11:00:02")), "02:42:ac:11:00:02");
  throws(() => ipBytes("10.0.0.256"), /invalid IP/);
  throws(() => ipBytes("1::2::3"), /invalid IP/);
  throws(() => macBytes("02:42"), /invalid MAC/);
});
