import { deepStrictEqual as assertEquals, throws } from "node:assert/strict";
import { addressMessage, routeMessage } from "./netlink.ts";
import {
  AF_INET,
  AF_INET6,
  IFA_F_NODAD,
  IFA_F_PERMANENT,
  IFA_FLAGS,
  ipBytes,
  MessageBuilder,
  parseAddr,
  parseMessages,
  parseRoute,
  RTM_DELADDR,
  RTM_NEWADDR,
  RTM_NEWROUTE,
} from "./netlink_msg.ts";

function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

const FD12_1 = "fd120000000000000000000000000001";

Deno.test("an IPv6 address request carries AF_INET6, the prefix and IFA_F_NODAD twice", () => {
  const b = addressMessage(RTM_NEWADDR, 0x600, 7, "fd12::1", 64);
  assertEquals(
    hex(b.finish(3)),
    "48000000" + "1400" + "0006" + "03000000" + "00000000" + // nlmsghdr: len 72, NEWADDR
      "0a" + "40" + "02" + "00" + "07000000" + // ifaddrmsg: AF_INET6, /64, NODAD, universe, idx 7
      "1400" + "0200" + FD12_1 + // IFA_LOCAL
      "1400" + "0100" + FD12_1 + // IFA_ADDRESS
      "0800" + "0800" + "02000000", // IFA_FLAGS = IFA_F_NODAD
  );
});

Deno.test("DAD stays on when asked, IPv4 and deletes carry no flags", () => {
  const withDad = parseMessages(
    addressMessage(RTM_NEWADDR, 0, 1, "fd12::1", 64, { nodad: false }).finish(1),
  )[0];
  assertEquals(withDad.body[2], 0);
  assertEquals(withDad.body.length, 8 + 20 + 20);
  const v4 = parseMessages(addressMessage(RTM_NEWADDR, 0, 1, "10.0.0.1", 24).finish(1))[0];
  assertEquals([v4.body[0], v4.body[1], v4.body[2], v4.body.length], [AF_INET, 24, 0, 8 + 8 + 8]);
  const del = parseMessages(addressMessage(RTM_DELADDR, 0, 1, "fd12::1", 64).finish(1))[0];
  assertEquals([del.body[0], del.body[2], del.body.length], [AF_INET6, 0, 8 + 20 + 20]);
  throws(() => addressMessage(RTM_NEWADDR, 0, 1, "fd12::1", 129), /invalid prefix length/);
  throws(() => addressMessage(RTM_NEWADDR, 0, 1, "10.0.0.1", 33), /invalid prefix length/);
  throws(() => addressMessage(RTM_NEWADDR, 0, 1, "fd12::g", 64), /invalid IP address/);
});

Deno.test("an IPv6 default route takes its family from the gateway, scope universe", () => {
  const b = routeMessage(RTM_NEWROUTE, 0x600, { dst: "default", gateway: "fd12::1" }, 4);
  assertEquals(
    hex(b.finish(1)),
    "38000000" + "1800" + "0006" + "01000000" + "00000000" + // nlmsghdr: len 56, NEWROUTE
      "0a" + "00" + "00" + "00" + "fe" + "03" + "00" + "01" + "00000000" + // rtmsg
      "1400" + "0500" + FD12_1 + // RTA_GATEWAY
      "0800" + "0400" + "04000000", // RTA_OIF 4
  );
  // ::/0 and "default" with family AF_INET6 are the same route.
  const a = parseMessages(routeMessage(RTM_NEWROUTE, 0, { dst: "::/0", dev: "x" }, 2).finish(1));
  const c = parseMessages(
    routeMessage(RTM_NEWROUTE, 0, { dst: "default", family: AF_INET6 }, 2).finish(1),
  );
  assertEquals(hex(a[0].body), hex(c[0].body));
  assertEquals(a[0].body[0], AF_INET6);
});

Deno.test("an IPv6 subnet route via a gateway encodes RTA_DST with the prefix length", () => {
  const b = routeMessage(RTM_NEWROUTE, 0, {
    dst: "fd34:1::/48",
    gateway: "fd12::fe",
    metric: 100,
  });
  const r = parseRoute(parseMessages(b.finish(1))[0]);
  assertEquals(r, {
    family: AF_INET6,
    dstLen: 48,
    table: 254,
    protocol: 3,
    scope: 0,
    type: 1,
    dst: "fd34:1::/48",
    gateway: "fd12::fe",
    priority: 100,
  });
  // A direct IPv4 route keeps scope link.
  const v4 = parseMessages(routeMessage(RTM_NEWROUTE, 0, { dst: "10.1.0.0/24" }, 1).finish(1));
  assertEquals(v4[0].body[6], 253);
});

Deno.test("mixed families and bad prefixes are refused before anything is sent", () => {
  throws(() => routeMessage(RTM_NEWROUTE, 0, { dst: "10.0.0.0/8", gateway: "fd12::1" }), /family/);
  throws(() => routeMessage(RTM_NEWROUTE, 0, { dst: "fd12::/129" }), /invalid prefix/);
});

Deno.test("an address reply reads IFA_FLAGS over the header byte", () => {
  const a = new MessageBuilder(RTM_NEWADDR, 0).ifaddrmsg({
    family: AF_INET6,
    prefixLen: 64,
    index: 5,
    flags: IFA_F_NODAD,
  });
  a.attr(1, ipBytes("fd12::2"));
  a.attrU32(IFA_FLAGS, IFA_F_NODAD | IFA_F_PERMANENT | 0x100);
  assertEquals(parseAddr(parseMessages(a.finish(1))[0]), {
    family: AF_INET6,
    prefixLen: 64,
    scope: 0,
    index: 5,
    address: "fd12::2",
    flags: IFA_F_NODAD | IFA_F_PERMANENT | 0x100,
  });
});
