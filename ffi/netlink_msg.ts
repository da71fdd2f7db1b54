/**
 * rtnetlink messages as bytes: constants, a builder for requests (header, fixed struct,
 * nested attributes, 4-byte alignment) and a parser for replies (links, addresses, routes,
 * errors with the kernel's extended-ack text). Pure: no socket here, so every layout is
 * unit-tested against byte fixtures.
 *
 * ```ts
 * const b = new MessageBuilder(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL);
 * b.ifinfomsg({});
 * b.attrString(IFLA_IFNAME, "br0");
 * b.nest(IFLA_LINKINFO, () => b.attrString(IFLA_INFO_KIND, "bridge"));
 * const bytes = b.finish(1);
 * ```
 * @module
 */

// ---- constants (uapi: linux/netlink.h, linux/rtnetlink.h, linux/if_link.h) ----------------

export const AF_UNSPEC = 0;
export const AF_INET = 2;
export const AF_INET6 = 10;
export const AF_NETLINK = 16;
export const AF_BRIDGE = 7;

export const NLMSG_NOOP = 1;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;

export const NLM_F_REQUEST = 0x1;
export const NLM_F_MULTI = 0x2;
export const NLM_F_ACK = 0x4;
export const NLM_F_DUMP = 0x300;
export const NLM_F_REPLACE = 0x100;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;
/** In an NLMSG_ERROR reply: the echoed request was cut to its header. */
export const NLM_F_CAPPED = 0x100;
/** In an NLMSG_ERROR reply: extended-ack attributes follow. */
export const NLM_F_ACK_TLVS = 0x200;

export const NLMSGERR_ATTR_MSG = 1;
export const NLMSGERR_ATTR_OFFS = 2;

export const RTM_NEWLINK = 16;
export const RTM_DELLINK = 17;
export const RTM_GETLINK = 18;
export const RTM_SETLINK = 19;
export const RTM_NEWADDR = 20;
export const RTM_DELADDR = 21;
export const RTM_GETADDR = 22;
export const RTM_NEWROUTE = 24;
export const RTM_DELROUTE = 25;
export const RTM_GETROUTE = 26;

export const IFLA_ADDRESS = 1;
export const IFLA_BROADCAST = 2;
export const IFLA_IFNAME = 3;
export const IFLA_MTU = 4;
export const IFLA_LINK = 5;
export const IFLA_STATS = 7;
export const IFLA_MASTER = 10;
export const IFLA_OPERSTATE = 16;
export const IFLA_LINKINFO = 18;
export const IFLA_NET_NS_PID = 19;
export const IFLA_STATS64 = 23;
export const IFLA_NET_NS_FD = 28;

export const IFLA_INFO_KIND = 1;
export const IFLA_INFO_DATA = 2;
export const VETH_INFO_PEER = 1;

export const IFF_UP = 0x1;
export const IFF_LOOPBACK = 0x8;
export const IFF_RUNNING = 0x40;
export const IFF_LOWER_UP = 0x10000;

export const IFA_ADDRESS = 1;
export const IFA_LOCAL = 2;
export const IFA_LABEL = 3;
export const IFA_BROADCAST = 4;
export const IFA_CACHEINFO = 6;
/** u32 flags (the header's byte holds only the low 8 bits). */
export const IFA_FLAGS = 8;

/** No duplicate address detection: an IPv6 address is usable at once, never "tentative". */
export const IFA_F_NODAD = 0x02;
export const IFA_F_TENTATIVE = 0x40;
export const IFA_F_PERMANENT = 0x80;

export const RTA_DST = 1;
export const RTA_OIF = 4;
export const RTA_GATEWAY = 5;
export const RTA_PRIORITY = 6;
export const RTA_PREFSRC = 7;
export const RTA_TABLE = 15;

export const RT_TABLE_MAIN = 254;
export const RTPROT_KERNEL = 2;
export const RTPROT_BOOT = 3;
export const RTPROT_STATIC = 4;
export const RT_SCOPE_UNIVERSE = 0;
export const RT_SCOPE_LINK = 253;
export const RT_SCOPE_HOST = 254;
export const RTN_UNICAST = 1;

export const NLMSG_HDRLEN = 16;
const IFINFOMSG_LEN = 16;
const IFADDRMSG_LEN = 8;
const RTMSG_LEN = 12;
const NLA_HDRLEN = 4;
const NLA_F_NESTED = 0x8000;
const NLA_TYPE_MASK = 0x3fff;

export function align4(n: number): number {
  return (n + 3) & ~3;
}

// ---- IP addresses -------------------------------------------------------------------------

/** An IP address as bytes (4 for IPv4, 16 for IPv6) from its text form. */
export function ipBytes(text: string): Uint8Array {
  if (text.includes(":")) return ipv6Bytes(text);
  const parts = text.split(".");
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) {
    throw new TypeError(`invalid IP address "${text}"`);
  }
  return new Uint8Array(parts.map(Number));
}

function ipv6Bytes(text: string): Uint8Array {
  const bad = () => new TypeError(`invalid IP address "${text}"`);
  const halves = text.split("::");
  if (halves.length > 2) throw bad();
  const groups = (s: string): number[] => {
    if (s === "") return [];
    return s.split(":").flatMap((g, i, all) => {
      if (g.includes(".") && i === all.length - 1) {
        const v4 = ipBytes(g);
        return [(v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]];
      }
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) throw bad();
      return [parseInt(g, 16)];
    });
  };
  const head = groups(halves[0]);
  const tail = halves.length === 2 ? groups(halves[1]) : [];
  const fill = 8 - head.length - tail.length;
  if (halves.length === 2 ? fill < 1 : fill !== 0) throw bad();
  const all = [...head, ...new Array(halves.length === 2 ? fill : 0).fill(0), ...tail];
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}

/** The text form of a 4- or 16-byte address (IPv6 with the longest zero run as "::"). */
export function ipText(b: Uint8Array): string {
  if (b.length === 4) return Array.from(b).join(".");
  if (b.length !== 16) return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  const g = Array.from({ length: 8 }, (_, i) => (b[2 * i] << 8) | b[2 * i + 1]);
  let best = -1, bestLen = 1;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j;
  }
  const hex = (xs: number[]) => xs.map((x) => x.toString(16)).join(":");
  if (best < 0) return hex(g);
  return `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`;
}

export function familyOf(address: string): number {
  return address.includes(":") ? AF_INET6 : AF_INET;
}

/** "02:42:ac:11:00:02" → 6 bytes. */
export function macBytes(text: string): Uint8Array {
  const parts = text.split(":");
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{2}$/.test(p))) {
    throw new TypeError(`invalid MAC address "${text}"`);
  }
  return new Uint8Array(parts.map((p) => parseInt(p, 16)));
}

export function macText(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(":");
}

// ---- building -----------------------------------------------------------------------------

/** Fields of `struct ifinfomsg`. */
export interface IfInfo {
  family?: number;
  type?: number;
  index?: number;
  flags?: number;
  change?: number;
}

/** Fields of `struct ifaddrmsg`. */
export interface IfAddr {
  family: number;
  prefixLen: number;
  flags?: number;
  scope?: number;
  index: number;
}

/** Fields of `struct rtmsg`. */
export interface RtMsg {
  family: number;
  dstLen: number;
  srcLen?: number;
  tos?: number;
  table?: number;
  protocol?: number;
  scope?: number;
  type?: number;
  flags?: number;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Builds one netlink request: header, a fixed struct, then attributes. */
export class MessageBuilder {
  #buf = new Uint8Array(256);
  #view = new DataView(this.#buf.buffer);
  #len = NLMSG_HDRLEN;

  constructor(readonly type: number, readonly flags: number) {}

  #reserve(n: number): number {
    const at = this.#len;
    const need = at + align4(n);
    if (need > this.#buf.length) {
      const bigger = new Uint8Array(Math.max(need, this.#buf.length * 2));
      bigger.set(this.#buf);
      this.#buf = bigger;
      this.#view = new DataView(bigger.buffer);
    }
    this.#len = need;
    return at;
  }

  ifinfomsg(i: IfInfo): this {
    const at = this.#reserve(IFINFOMSG_LEN);
    const v = this.#view;
    v.setUint8(at, i.family ?? AF_UNSPEC);
    v.setUint16(at + 2, i.type ?? 0, true);
    v.setInt32(at + 4, i.index ?? 0, true);
    v.setUint32(at + 8, i.flags ?? 0, true);
    v.setUint32(at + 12, i.change ?? 0, true);
    return this;
  }

  ifaddrmsg(a: IfAddr): this {
    const at = this.#reserve(IFADDRMSG_LEN);
    const v = this.#view;
    v.setUint8(at, a.family);
    v.setUint8(at + 1, a.prefixLen);
    v.setUint8(at + 2, a.flags ?? 0);
    v.setUint8(at + 3, a.scope ?? RT_SCOPE_UNIVERSE);
    v.setUint32(at + 4, a.index, true);
    return this;
  }

  rtmsg(r: RtMsg): this {
    const at = this.#reserve(RTMSG_LEN);
    const v = this.#view;
    v.setUint8(at, r.family);
    v.setUint8(at + 1, r.dstLen);
    v.setUint8(at + 2, r.srcLen ?? 0);
    v.setUint8(at + 3, r.tos ?? 0);
    v.setUint8(at + 4, r.table ?? RT_TABLE_MAIN);
    v.setUint8(at + 5, r.protocol ?? RTPROT_BOOT);
    v.setUint8(at + 6, r.scope ?? RT_SCOPE_UNIVERSE);
    v.setUint8(at + 7, r.type ?? RTN_UNICAST);
    v.setUint32(at + 8, r.flags ?? 0, true);
    return this;
  }

  attr(type: number, data: Uint8Array): this {
    const at = this.#reserve(NLA_HDRLEN + data.length);
    this.#view.setUint16(at, NLA_HDRLEN + data.length, true);
    this.#view.setUint16(at + 2, type, true);
    this.#buf.set(data, at + NLA_HDRLEN);
    return this;
  }

  /** A NUL-terminated string attribute (names, kinds). */
  attrString(type: number, s: string): this {
    const b = enc.encode(s);
    const z = new Uint8Array(b.length + 1);
    z.set(b);
    return this.attr(type, z);
  }

  attrU32(type: number, n: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, n >>> 0, true);
    return this.attr(type, b);
  }

  attrI32(type: number, n: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setInt32(0, n, true);
    return this.attr(type, b);
  }

  /** A nested attribute; `body` adds its children (and may add a struct first, as veth's peer). */
  nest(type: number, body: () => void): this {
    const at = this.#reserve(NLA_HDRLEN);
    body();
    this.#view.setUint16(at, this.#len - at, true);
    this.#view.setUint16(at + 2, type | NLA_F_NESTED, true);
    return this;
  }

  /** The finished message with its header (length, type, flags, sequence number, port 0). */
  finish(seq: number): Uint8Array {
    const v = this.#view;
    v.setUint32(0, this.#len, true);
    v.setUint16(4, this.type, true);
    v.setUint16(6, this.flags, true);
    v.setUint32(8, seq >>> 0, true);
    v.setUint32(12, 0, true);
    return this.#buf.slice(0, this.#len);
  }
}

// ---- parsing ------------------------------------------------------------------------------

export interface NlMessage {
  type: number;
  flags: number;
  seq: number;
  pid: number;
  /** The payload after the 16-byte header. */
  body: Uint8Array;
}

/** Splits a datagram into messages. Throws on a malformed length (never loops). */
export function parseMessages(buf: Uint8Array): NlMessage[] {
  const out: NlMessage[] = [];
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let off = 0;
  while (off + NLMSG_HDRLEN <= buf.length) {
    const len = v.getUint32(off, true);
    if (len < NLMSG_HDRLEN || off + len > buf.length) {
      throw new RangeError(`malformed netlink message: length ${len} at offset ${off}`);
    }
    out.push({
      type: v.getUint16(off + 4, true),
      flags: v.getUint16(off + 6, true),
      seq: v.getUint32(off + 8, true),
      pid: v.getUint32(off + 12, true),
      body: buf.subarray(off + NLMSG_HDRLEN, off + len),
    });
    off += align4(len);
  }
  return out;
}

/** Attributes of a message part, by type (the last one wins; nested flag stripped). */
export function parseAttrs(buf: Uint8Array): Map<number, Uint8Array> {
  const out = new Map<number, Uint8Array>();
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let off = 0;
  while (off + NLA_HDRLEN <= buf.length) {
    const len = v.getUint16(off, true);
    if (len < NLA_HDRLEN || off + len > buf.length) break;
    out.set(v.getUint16(off + 2, true) & NLA_TYPE_MASK, buf.subarray(off + NLA_HDRLEN, off + len));
    off += align4(len);
  }
  return out;
}

export function attrString(b: Uint8Array | undefined): string | undefined {
  if (!b) return undefined;
  const z = b.indexOf(0);
  return dec.decode(z >= 0 ? b.subarray(0, z) : b);
}

export function attrU32(b: Uint8Array | undefined): number | undefined {
  if (!b || b.length < 4) return undefined;
  return new DataView(b.buffer, b.byteOffset, 4).getUint32(0, true);
}

/** The errno (positive; 0 = ack) and extended-ack text of an NLMSG_ERROR message. */
export interface NlError {
  errno: number;
  message?: string;
  /** Offset of the offending attribute in the request, when the kernel names one. */
  offset?: number;
}

export function parseError(m: NlMessage): NlError {
  const v = new DataView(m.body.buffer, m.body.byteOffset, m.body.byteLength);
  const errno = Math.abs(v.getInt32(0, true));
  if (!(m.flags & NLM_F_ACK_TLVS)) return { errno };
  // The echoed request: its header only when capped, else the whole request.
  let echoed = NLMSG_HDRLEN;
  if (!(m.flags & NLM_F_CAPPED) && m.body.length >= 4 + NLMSG_HDRLEN) {
    echoed = v.getUint32(4, true);
  }
  const tlvs = parseAttrs(m.body.subarray(4 + align4(echoed)));
  const text = attrString(tlvs.get(NLMSGERR_ATTR_MSG));
  const offset = attrU32(tlvs.get(NLMSGERR_ATTR_OFFS));
  return {
    errno,
    ...(text ? { message: text } : {}),
    ...(offset !== undefined ? { offset } : {}),
  };
}

export interface LinkStats {
  rxPackets: number;
  txPackets: number;
  rxBytes: number;
  txBytes: number;
  rxErrors: number;
  txErrors: number;
  rxDropped: number;
  txDropped: number;
}

export interface LinkInfo {
  index: number;
  name: string;
  flags: number;
  up: boolean;
  mtu?: number;
  mac?: string;
  master?: number;
  kind?: string;
  stats?: LinkStats;
}

export function parseLink(m: NlMessage): LinkInfo {
  const v = new DataView(m.body.buffer, m.body.byteOffset, m.body.byteLength);
  const index = v.getInt32(4, true);
  const flags = v.getUint32(8, true);
  const attrs = parseAttrs(m.body.subarray(IFINFOMSG_LEN));
  const linkinfo = attrs.get(IFLA_LINKINFO);
  const kind = linkinfo ? attrString(parseAttrs(linkinfo).get(IFLA_INFO_KIND)) : undefined;
  const addr = attrs.get(IFLA_ADDRESS);
  const s64 = attrs.get(IFLA_STATS64);
  let stats: LinkStats | undefined;
  if (s64 && s64.length >= 64) {
    const sv = new DataView(s64.buffer, s64.byteOffset, s64.byteLength);
    const u = (i: number) => Number(sv.getBigUint64(i * 8, true));
    stats = {
      rxPackets: u(0),
      txPackets: u(1),
      rxBytes: u(2),
      txBytes: u(3),
      rxErrors: u(4),
      txErrors: u(5),
      rxDropped: u(6),
      txDropped: u(7),
    };
  }
  const out: LinkInfo = {
    index,
    name: attrString(attrs.get(IFLA_IFNAME)) ?? "",
    flags,
    up: (flags & IFF_UP) !== 0,
  };
  const mtu = attrU32(attrs.get(IFLA_MTU));
  if (mtu !== undefined) out.mtu = mtu;
  if (addr && addr.length === 6) out.mac = macText(addr);
  const master = attrU32(attrs.get(IFLA_MASTER));
  if (master !== undefined) out.master = master;
  if (kind) out.kind = kind;
  if (stats) out.stats = stats;
  return out;
}

export interface AddrInfo {
  family: number;
  prefixLen: number;
  index: number;
  scope: number;
  address: string;
  /** IFA_F_* (from IFA_FLAGS when the kernel sends it, else the header's byte). */
  flags: number;
  label?: string;
}

export function parseAddr(m: NlMessage): AddrInfo {
  const b = m.body;
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const attrs = parseAttrs(b.subarray(IFADDRMSG_LEN));
  // For IPv4 IFA_LOCAL is the address itself (IFA_ADDRESS is the peer on point-to-point).
  const raw = attrs.get(IFA_LOCAL) ?? attrs.get(IFA_ADDRESS);
  const out: AddrInfo = {
    family: b[0],
    prefixLen: b[1],
    scope: b[3],
    index: v.getUint32(4, true),
    address: raw ? ipText(raw) : "",
    flags: attrU32(attrs.get(IFA_FLAGS)) ?? b[2],
  };
  const label = attrString(attrs.get(IFA_LABEL));
  if (label) out.label = label;
  return out;
}

export interface RouteInfo {
  family: number;
  dstLen: number;
  table: number;
  protocol: number;
  scope: number;
  type: number;
  /** "default" or the destination prefix "10.0.0.0/24". */
  dst: string;
  gateway?: string;
  oif?: number;
  prefsrc?: string;
  priority?: number;
}

export function parseRoute(m: NlMessage): RouteInfo {
  const b = m.body;
  const attrs = parseAttrs(b.subarray(RTMSG_LEN));
  const rawTable = attrU32(attrs.get(RTA_TABLE));
  const dst = attrs.get(RTA_DST);
  const out: RouteInfo = {
    family: b[0],
    dstLen: b[1],
    table: rawTable ?? b[4],
    protocol: b[5],
    scope: b[6],
    type: b[7],
    dst: dst ? `${ipText(dst)}/${b[1]}` : (b[1] === 0 ? "default" : `?/${b[1]}`),
  };
  const gw = attrs.get(RTA_GATEWAY);
  if (gw) out.gateway = ipText(gw);
  const oif = attrU32(attrs.get(RTA_OIF));
  if (oif !== undefined) out.oif = oif;
  const src = attrs.get(RTA_PREFSRC);
  if (src) out.prefsrc = ipText(src);
  const prio = attrU32(attrs.get(RTA_PRIORITY));
  if (prio !== undefined) out.priority = prio;
  return out;
}

/** A readable name of a request type, for error messages. */
export function requestName(type: number): string {
  const names: Record<number, string> = {
    [RTM_NEWLINK]: "RTM_NEWLINK",
    [RTM_DELLINK]: "RTM_DELLINK",
    [RTM_GETLINK]: "RTM_GETLINK",
    [RTM_SETLINK]: "RTM_SETLINK",
    [RTM_NEWADDR]: "RTM_NEWADDR",
    [RTM_DELADDR]: "RTM_DELADDR",
    [RTM_GETADDR]: "RTM_GETADDR",
    [RTM_NEWROUTE]: "RTM_NEWROUTE",
    [RTM_DELROUTE]: "RTM_DELROUTE",
    [RTM_GETROUTE]: "RTM_GETROUTE",
  };
  return names[type] ?? `netlink type ${type}`;
}
