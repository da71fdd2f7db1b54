/**
 * rtnetlink operations over one `NetlinkSocket`: bridges and veth pairs, link settings (up,
 * MTU, MAC, master, name, namespace), IPv4/IPv6 addresses and routes, and dumps of links
 * (with their counters), addresses and routes. No `ip` binary.
 *
 * ```ts
 * using nl = new Rtnl();                       // this thread's network namespace
 * nl.createBridge("pbr-test");
 * nl.addAddress("pbr-test", "10.9.0.1", 24);
 * nl.setLink("pbr-test", { up: true });
 * ```
 * @module
 */

import {
  type AddrInfo,
  AF_INET,
  AF_INET6,
  AF_UNSPEC,
  familyOf,
  IFA_ADDRESS,
  IFA_F_NODAD,
  IFA_FLAGS,
  IFA_LOCAL,
  IFF_UP,
  IFLA_ADDRESS,
  IFLA_IFNAME,
  IFLA_INFO_DATA,
  IFLA_INFO_KIND,
  IFLA_LINKINFO,
  IFLA_MASTER,
  IFLA_MTU,
  IFLA_NET_NS_FD,
  IFLA_NET_NS_PID,
  ipBytes,
  type LinkInfo,
  macBytes,
  MessageBuilder,
  NLM_F_CREATE,
  NLM_F_EXCL,
  parseAddr,
  parseLink,
  parseRoute,
  type RouteInfo,
  RT_SCOPE_LINK,
  RT_SCOPE_UNIVERSE,
  RT_TABLE_MAIN,
  RTA_DST,
  RTA_GATEWAY,
  RTA_OIF,
  RTA_PRIORITY,
  RTM_DELADDR,
  RTM_DELLINK,
  RTM_DELROUTE,
  RTM_GETADDR,
  RTM_GETLINK,
  RTM_GETROUTE,
  RTM_NEWADDR,
  RTM_NEWLINK,
  RTM_NEWROUTE,
  RTPROT_BOOT,
  VETH_INFO_PEER,
} from "./netlink_msg.ts";
import { isNetlinkErrno, NetlinkError, NetlinkSocket } from "./netlink_socket.ts";

/** Where a link goes: a namespace fd (from /proc/<pid>/ns/net) or a pid (a thread id, see DESIGN.md). */
export type NetnsTarget = { fd: number } | { pid: number };

/** Settings applied by `setLink` (and at creation time). */
export interface LinkSettings {
  up?: boolean;
  mtu?: number;
  mac?: string;
  /** Bridge to attach to (name or index); 0 detaches. */
  master?: string | number;
  /** New name (set the link down first on kernels before 6.2). */
  name?: string;
  netns?: NetnsTarget;
}

export interface VethOptions {
  /** Host-side settings. */
  mtu?: number;
  mac?: string;
  master?: string | number;
  /** The peer: its own MAC and MTU, and a namespace to create it in directly. */
  peerMac?: string;
  peerMtu?: number;
  peerNetns?: NetnsTarget;
}

export interface AddressOptions {
  /**
   * Skip duplicate address detection (IFA_F_NODAD). Default: true for IPv6, so the address is
   * usable at once instead of "tentative" for a second or more; IPv4 has no DAD.
   */
  nodad?: boolean;
}

export interface RouteSpec {
  /**
   * "default" or a prefix such as "10.1.0.0/24" or "fd12::/64". "default" is IPv6's ("::/0")
   * when the gateway is an IPv6 address or `family` says AF_INET6.
   */
  dst: string;
  /** AF_INET or AF_INET6; needed only for "default" without a gateway. */
  family?: number;
  gateway?: string;
  /** Output link (name or index). */
  dev?: string | number;
  metric?: number;
  table?: number;
}

function splitPrefix(
  dst: string,
  defaultFamily = AF_INET,
): { family: number; bytes: Uint8Array | null; len: number } {
  if (dst === "default") return { family: defaultFamily, bytes: null, len: 0 };
  if (dst === "0.0.0.0/0") return { family: AF_INET, bytes: null, len: 0 };
  if (dst === "::/0") return { family: AF_INET6, bytes: null, len: 0 };
  const [addr, len] = dst.split("/");
  const bytes = ipBytes(addr);
  const max = bytes.length * 8;
  const n = len === undefined ? max : Number(len);
  if (!Number.isInteger(n) || n < 0 || n > max) throw new TypeError(`invalid prefix "${dst}"`);
  return { family: familyOf(addr), bytes: n === 0 ? null : bytes, len: n };
}

export class Rtnl {
  readonly sock: NetlinkSocket;
  /** Opened here (in the calling thread's namespace), not handed a socket of another one. */
  readonly #own: boolean;

  /** Uses `sock`, or opens a socket in the calling thread's network namespace. */
  constructor(sock?: NetlinkSocket) {
    this.#own = sock === undefined;
    this.sock = sock ?? new NetlinkSocket();
  }

  close(): void {
    this.sock.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  // ---- links ------------------------------------------------------------------------------

  /** The index of link `name`; throws NetlinkError ENODEV when there is none. */
  linkIndex(link: string | number): number {
    if (typeof link === "number") return link;
    return this.getLink(link).index;
  }

  getLink(name: string): LinkInfo {
    const b = new MessageBuilder(RTM_GETLINK, 0).ifinfomsg({});
    b.attrString(IFLA_IFNAME, name);
    const found = this.#get(b, `get link "${name}"`);
    return parseLink(found);
  }

  /** The link, or undefined when it does not exist. */
  findLink(name: string): LinkInfo | undefined {
    try {
      return this.getLink(name);
    } catch (e) {
      if (isNetlinkErrno(e, "ENODEV")) return undefined;
      throw e;
    }
  }

  /** Every link of this namespace, with counters. */
  listLinks(): LinkInfo[] {
    const b = new MessageBuilder(RTM_GETLINK, 0).ifinfomsg({});
    return this.sock.dump(b, "list links").filter((m) => m.type === RTM_NEWLINK).map(parseLink);
  }

  createBridge(name: string, opts: { mtu?: number; mac?: string } = {}): void {
    const b = new MessageBuilder(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL).ifinfomsg({});
    b.attrString(IFLA_IFNAME, name);
    if (opts.mtu) b.attrU32(IFLA_MTU, opts.mtu);
    if (opts.mac) b.attr(IFLA_ADDRESS, macBytes(opts.mac));
    b.nest(IFLA_LINKINFO, () => b.attrString(IFLA_INFO_KIND, "bridge"));
    this.sock.request(b, `create bridge "${name}"`);
  }

  /**
   * Creates a veth pair `name` ⇄ `peer`. With `peerNetns` the peer is born in that namespace
   * (no name clash with the host's links, and no separate move).
   */
  createVeth(name: string, peer: string, opts: VethOptions = {}): void {
    const master = opts.master !== undefined ? this.linkIndex(opts.master) : undefined;
    const b = new MessageBuilder(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL).ifinfomsg({});
    b.attrString(IFLA_IFNAME, name);
    if (opts.mtu) b.attrU32(IFLA_MTU, opts.mtu);
    if (opts.mac) b.attr(IFLA_ADDRESS, macBytes(opts.mac));
    if (master !== undefined) b.attrU32(IFLA_MASTER, master);
    b.nest(IFLA_LINKINFO, () => {
      b.attrString(IFLA_INFO_KIND, "veth");
      b.nest(IFLA_INFO_DATA, () => {
        b.nest(VETH_INFO_PEER, () => {
          b.ifinfomsg({});
          b.attrString(IFLA_IFNAME, peer);
          if (opts.peerMtu ?? opts.mtu) b.attrU32(IFLA_MTU, (opts.peerMtu ?? opts.mtu)!);
          if (opts.peerMac) b.attr(IFLA_ADDRESS, macBytes(opts.peerMac));
          if (opts.peerNetns) addNetns(b, opts.peerNetns);
        });
      });
    });
    this.sock.request(b, `create veth "${name}" with peer "${peer}"`);
  }

  deleteLink(link: string | number): void {
    const b = new MessageBuilder(RTM_DELLINK, 0);
    if (typeof link === "number") b.ifinfomsg({ index: link });
    else b.ifinfomsg({}).attrString(IFLA_IFNAME, link);
    this.sock.request(b, `delete link ${JSON.stringify(link)}`);
  }

  /**
   * `deleteLinkIfExists` without blocking the event loop for the kernel's 10-20 ms (an RCU
   * grace period): on a socket of its own, opened in this thread's namespace, so only for an
   * Rtnl of that namespace.
   */
  async deleteLinkIfExistsAsync(link: string | number): Promise<boolean> {
    if (!this.#own) throw new Error("deleteLinkIfExistsAsync needs an Rtnl of this namespace");
    const b = new MessageBuilder(RTM_DELLINK, 0);
    if (typeof link === "number") b.ifinfomsg({ index: link });
    else b.ifinfomsg({}).attrString(IFLA_IFNAME, link);
    const sock = new NetlinkSocket();
    try {
      await sock.requestAsync(b, `delete link ${JSON.stringify(link)}`);
      return true;
    } catch (e) {
      if (isNetlinkErrno(e, "ENODEV")) return false;
      throw e;
    } finally {
      sock.close();
    }
  }

  /** Deletes the link if it exists; true if it did. */
  deleteLinkIfExists(link: string | number): boolean {
    try {
      this.deleteLink(link);
      return true;
    } catch (e) {
      if (isNetlinkErrno(e, "ENODEV")) return false;
      throw e;
    }
  }

  setLink(link: string | number, s: LinkSettings): void {
    const index = this.linkIndex(link);
    const master = s.master !== undefined ? this.linkIndex(s.master) : undefined;
    const b = new MessageBuilder(RTM_NEWLINK, 0).ifinfomsg({
      index,
      flags: s.up ? IFF_UP : 0,
      change: s.up === undefined ? 0 : IFF_UP,
    });
    if (s.name !== undefined) b.attrString(IFLA_IFNAME, s.name);
    if (s.mtu !== undefined) b.attrU32(IFLA_MTU, s.mtu);
    if (s.mac !== undefined) b.attr(IFLA_ADDRESS, macBytes(s.mac));
    if (master !== undefined) b.attrU32(IFLA_MASTER, master);
    if (s.netns) addNetns(b, s.netns);
    this.sock.request(b, `set link ${JSON.stringify(link)} ${describe(s)}`);
  }

  /** Moves a link into another network namespace. */
  moveLink(link: string | number, netns: NetnsTarget): void {
    this.setLink(link, { netns });
  }

  // ---- addresses --------------------------------------------------------------------------

  /** Adds an IPv4 or IPv6 address (IPv6 without DAD unless `nodad: false`). */
  addAddress(
    link: string | number,
    address: string,
    prefixLen: number,
    opts: AddressOptions = {},
  ): void {
    this.#address(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, link, address, prefixLen, "add", opts);
  }

  deleteAddress(link: string | number, address: string, prefixLen: number): void {
    this.#address(RTM_DELADDR, 0, link, address, prefixLen, "delete", {});
  }

  #address(
    type: number,
    flags: number,
    link: string | number,
    address: string,
    prefixLen: number,
    verb: string,
    opts: AddressOptions,
  ): void {
    const what = `${verb} address ${address}/${prefixLen} on ${JSON.stringify(link)}`;
    const b = addressMessage(type, flags, this.#index(link, type, what), address, prefixLen, opts);
    this.sock.request(b, what);
  }

  /** `linkIndex`, failing with the request that needed it (`add address … on "x"`). */
  #index(link: string | number, type: number, what: string): number {
    try {
      return this.linkIndex(link);
    } catch (e) {
      if (e instanceof NetlinkError) {
        throw new NetlinkError(type, e.errno, `${what}: no such link`, e.extack);
      }
      throw e;
    }
  }

  /** Addresses of this namespace (of one family, or all). */
  listAddresses(family: number = AF_UNSPEC): AddrInfo[] {
    const b = new MessageBuilder(RTM_GETADDR, 0).ifaddrmsg({ family, prefixLen: 0, index: 0 });
    return this.sock.dump(b, "list addresses").filter((m) => m.type === RTM_NEWADDR).map(
      parseAddr,
    );
  }

  // ---- routes -----------------------------------------------------------------------------

  addRoute(r: RouteSpec): void {
    this.#route(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, r, "add");
  }

  deleteRoute(r: RouteSpec): void {
    this.#route(RTM_DELROUTE, 0, r, "delete");
  }

  #route(type: number, flags: number, r: RouteSpec, verb: string): void {
    const via = r.gateway ? ` via ${r.gateway}` : "";
    const dev = r.dev !== undefined ? ` dev ${JSON.stringify(r.dev)}` : "";
    const what = `${verb} route ${r.dst}${via}${dev}`;
    const oif = r.dev !== undefined ? this.#index(r.dev, type, what) : undefined;
    this.sock.request(routeMessage(type, flags, r, oif), what);
  }

  /** Routes of the main table (or every table with `table: 0`). */
  listRoutes(opts: { family?: number; table?: number } = {}): RouteInfo[] {
    const b = new MessageBuilder(RTM_GETROUTE, 0).rtmsg({
      family: opts.family ?? AF_UNSPEC,
      dstLen: 0,
      table: 0,
      protocol: 0,
      scope: 0,
      type: 0,
    });
    const table = opts.table ?? RT_TABLE_MAIN;
    return this.sock.dump(b, "list routes")
      .filter((m) => m.type === RTM_NEWROUTE)
      .map(parseRoute)
      .filter((r) => table === 0 || r.table === table);
  }

  #get(b: MessageBuilder, what: string) {
    const replies = this.sock.requestWithReply(b, what);
    const found = replies.find((m) => m.type === RTM_NEWLINK);
    if (!found) throw new NetlinkError(b.type, 19, /* ENODEV */ what);
    return found;
  }
}

/** An RTM_NEWADDR/RTM_DELADDR request for `address/prefixLen` on link `index`. */
export function addressMessage(
  type: number,
  flags: number,
  index: number,
  address: string,
  prefixLen: number,
  opts: AddressOptions = {},
): MessageBuilder {
  const bytes = ipBytes(address);
  const family = familyOf(address);
  if (!Number.isInteger(prefixLen) || prefixLen < 0 || prefixLen > bytes.length * 8) {
    throw new TypeError(`invalid prefix length ${prefixLen} for ${address}`);
  }
  const ifaFlags = type === RTM_NEWADDR && family === AF_INET6 && opts.nodad !== false
    ? IFA_F_NODAD
    : 0;
  const b = new MessageBuilder(type, flags).ifaddrmsg({
    family,
    prefixLen,
    index,
    flags: ifaFlags,
    scope: RT_SCOPE_UNIVERSE,
  });
  b.attr(IFA_LOCAL, bytes);
  b.attr(IFA_ADDRESS, bytes);
  // The kernel reads IFA_FLAGS over the header's 8-bit field when present.
  if (ifaFlags) b.attrU32(IFA_FLAGS, ifaFlags);
  return b;
}

/** An RTM_NEWROUTE/RTM_DELROUTE request; `oif` is the resolved output link. */
export function routeMessage(
  type: number,
  flags: number,
  r: RouteSpec,
  oif?: number,
): MessageBuilder {
  const gwFamily = r.gateway ? familyOf(r.gateway) : undefined;
  const { family, bytes, len } = splitPrefix(r.dst, r.family ?? gwFamily ?? AF_INET);
  if (gwFamily !== undefined && gwFamily !== family) {
    throw new TypeError(`gateway ${r.gateway} is not of the family of route ${r.dst}`);
  }
  const table = r.table ?? RT_TABLE_MAIN;
  const b = new MessageBuilder(type, flags).rtmsg({
    family,
    dstLen: len,
    table: table < 256 ? table : 0,
    protocol: RTPROT_BOOT,
    // An IPv4 route with no gateway reaches its destination directly on the link; IPv6 has no
    // route scopes (the kernel keeps them all universe).
    scope: r.gateway || family === AF_INET6 ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK,
  });
  if (bytes) b.attr(RTA_DST, bytes);
  if (r.gateway) b.attr(RTA_GATEWAY, ipBytes(r.gateway));
  if (oif !== undefined) b.attrU32(RTA_OIF, oif);
  if (r.metric !== undefined) b.attrU32(RTA_PRIORITY, r.metric);
  if (table >= 256) b.attrU32(15, /* RTA_TABLE */ table);
  return b;
}

function addNetns(b: MessageBuilder, t: NetnsTarget): void {
  if ("fd" in t) b.attrU32(IFLA_NET_NS_FD, t.fd);
  else b.attrU32(IFLA_NET_NS_PID, t.pid);
}

function describe(s: LinkSettings): string {
  const parts: string[] = [];
  if (s.up !== undefined) parts.push(s.up ? "up" : "down");
  if (s.mtu !== undefined) parts.push(`mtu ${s.mtu}`);
  if (s.mac !== undefined) parts.push(`address ${s.mac}`);
  if (s.master !== undefined) parts.push(`master ${JSON.stringify(s.master)}`);
  if (s.name !== undefined) parts.push(`name ${JSON.stringify(s.name)}`);
  if (s.netns) parts.push("fd" in s.netns ? `netns fd ${s.netns.fd}` : `netns pid ${s.netns.pid}`);
  return parts.join(" ");
}
