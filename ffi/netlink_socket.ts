/**
 * An rtnetlink socket over FFI: one request at a time, always with NLM_F_ACK (without it a
 * success sends nothing back) and NETLINK_EXT_ACK (the kernel then explains failures in
 * words). Every call is synchronous on the calling thread (DESIGN.md); a receive timeout keeps
 * a kernel that never answers from hanging the daemon.
 *
 * A socket belongs to the network namespace of the thread that created it and keeps it alive
 * while open: see `openNetlinkInNetns` (ffi/netlink_netns.ts) for a container's namespace.
 * @module
 */

import { errno, libc } from "./libc.ts";
import { ErrnoError, errnoName } from "./errno.ts";
import {
  AF_NETLINK,
  type MessageBuilder,
  NLM_F_ACK,
  NLM_F_DUMP,
  NLM_F_REQUEST,
  type NlMessage,
  NLMSG_DONE,
  NLMSG_ERROR,
  parseError,
  parseMessages,
  requestName,
} from "./netlink_msg.ts";

const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0o2000000;
const NETLINK_ROUTE = 0;
const SOL_SOCKET = 1;
const SO_RCVTIMEO = 20;
const SOL_NETLINK = 270;
const NETLINK_CAP_ACK = 10;
const NETLINK_EXT_ACK = 11;
const MSG_TRUNC = 0x20;
const EINTR = 4;
const EAGAIN = 11;
const EIO = 5;

/** Large enough for any dump part the kernel sends (it sizes them to at most 32 KiB). */
const RECV_BUFFER = 64 * 1024;

/**
 * A failed netlink request: the errno (as for a syscall, so `isErrno(e, "EEXIST")` works), the
 * kernel's extended-ack text when it gave one, and what was asked.
 * Message: `netlink RTM_NEWLINK(create bridge "br0"): EEXIST (File exists): <ext-ack text>`.
 */
export class NetlinkError extends ErrnoError {
  /** The kernel's explanation (NETLINK_EXT_ACK), if any. */
  readonly extack?: string;
  /** What was asked, e.g. `create bridge "br0"`. */
  readonly request: string;

  constructor(type: number, errnoValue: number, request: string, extack?: string) {
    super(`netlink ${requestName(type)}`, errnoValue, [], request);
    this.name = "NetlinkError";
    this.request = request;
    if (extack) {
      this.extack = extack;
      this.message += `: ${extack}`;
    }
  }
}

function setIntOpt(fd: number, level: number, name: number, value: number): void {
  const v = new Int32Array([value]);
  if (libc().setsockopt(fd, level, name, new Uint8Array(v.buffer), 4) < 0) {
    throw new ErrnoError("setsockopt", errno(), [level, name]);
  }
}

/** Configures and binds a netlink socket made by `socket(2)` (here or on another thread). */
export function prepareNetlinkFd(fd: number, timeoutMs = 10_000): void {
  setIntOpt(fd, SOL_NETLINK, NETLINK_EXT_ACK, 1);
  // Errors echo only the request's header, not the whole request.
  setIntOpt(fd, SOL_NETLINK, NETLINK_CAP_ACK, 1);
  const tv = new BigInt64Array([
    BigInt(Math.floor(timeoutMs / 1000)),
    BigInt(timeoutMs % 1000 * 1000),
  ]);
  if (libc().setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, new Uint8Array(tv.buffer), 16) < 0) {
    throw new ErrnoError("setsockopt", errno(), ["SO_RCVTIMEO"]);
  }
  const sa = new Uint8Array(12);
  new DataView(sa.buffer).setUint16(0, AF_NETLINK, true);
  if (libc().bind(fd, sa, 12) < 0) throw new ErrnoError("bind", errno(), ["AF_NETLINK"]);
}

/** Opens a NETLINK_ROUTE socket in the calling thread's network namespace. */
export function openNetlinkFd(): number {
  const fd = libc().socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) throw new ErrnoError("socket", errno(), ["AF_NETLINK", "NETLINK_ROUTE"]);
  return fd;
}

export class NetlinkSocket {
  #fd: number;
  #seq = Math.floor(Math.random() * 0x7fffffff);
  readonly #buf = new Uint8Array(RECV_BUFFER);

  /** Wraps `fd` (an unbound NETLINK_ROUTE socket), or opens one in this thread's namespace. */
  constructor(fd?: number) {
    this.#fd = fd ?? openNetlinkFd();
    try {
      prepareNetlinkFd(this.#fd);
    } catch (e) {
      libc().close(this.#fd);
      throw e;
    }
  }

  get fd(): number {
    return this.#fd;
  }

  get closed(): boolean {
    return this.#fd < 0;
  }

  close(): void {
    if (this.#fd >= 0) libc().close(this.#fd);
    this.#fd = -1;
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #encode(
    msg: MessageBuilder,
    flags: number,
  ): { seq: number; bytes: Uint8Array; kernel: Uint8Array } {
    if (this.#fd < 0) throw new Error("netlink socket is closed");
    const seq = ++this.#seq & 0x7fffffff;
    const bytes = msg.finish(seq);
    // Our flags go in the header already built; make sure REQUEST and the mode are there.
    new DataView(bytes.buffer).setUint16(6, msg.flags | flags, true);
    const kernel = new Uint8Array(12);
    new DataView(kernel.buffer).setUint16(0, AF_NETLINK, true);
    return { seq, bytes, kernel };
  }

  #send(msg: MessageBuilder, flags: number, what: string): number {
    const { seq, bytes, kernel } = this.#encode(msg, flags);
    for (;;) {
      const n = Number(libc().sendto(this.#fd, bytes, BigInt(bytes.length), 0, kernel, 12));
      if (n >= 0) break;
      const e = errno();
      if (e === EINTR) continue;
      throw new NetlinkError(msg.type, e, `${what} (send)`);
    }
    return seq;
  }

  #recv(type: number, what: string): NlMessage[] {
    for (;;) {
      const n = Number(
        libc().recvfrom(this.#fd, this.#buf, BigInt(this.#buf.length), MSG_TRUNC, null, null),
      );
      if (n < 0) {
        const e = errno();
        if (e === EINTR) continue;
        if (e === EAGAIN) {
          throw new NetlinkError(type, e, `${what}: no answer from the kernel (timed out)`);
        }
        throw new NetlinkError(type, e, `${what} (receive)`);
      }
      if (n > this.#buf.length) {
        throw new NetlinkError(type, 90, /* EMSGSIZE */ `${what}: reply truncated (${n} bytes)`);
      }
      return parseMessages(this.#buf.slice(0, n));
    }
  }

  /**
   * Sends a request that changes something and waits for the kernel's ack.
   * Throws `NetlinkError` with the errno and ext-ack text on failure.
   */
  request(msg: MessageBuilder, what: string): void {
    this.requestWithReply(msg, what);
  }

  /**
   * `request` with the kernel's work done while the event loop goes on: the send (where the
   * kernel handles a netlink request) runs on a pool thread; the ack is then read here. One
   * at a time per socket (an ack for another request would be skipped).
   */
  async requestAsync(msg: MessageBuilder, what: string): Promise<void> {
    const { seq, bytes, kernel } = this.#encode(msg, NLM_F_REQUEST | NLM_F_ACK);
    const n = Number(
      await libc().sendto_nonblocking(this.#fd, bytes, BigInt(bytes.length), 0, kernel, 12),
    );
    // errno belongs to the pool thread: only the failure itself is known here.
    if (n < 0) throw new NetlinkError(msg.type, EIO, `${what} (send failed)`);
    this.#awaitAck(msg, seq, what);
  }

  /** Like `request`, returning what the kernel sent before its ack (for RTM_GET* by name). */
  requestWithReply(msg: MessageBuilder, what: string): NlMessage[] {
    return this.#awaitAck(msg, this.#send(msg, NLM_F_REQUEST | NLM_F_ACK, what), what);
  }

  #awaitAck(msg: MessageBuilder, seq: number, what: string): NlMessage[] {
    const out: NlMessage[] = [];
    for (;;) {
      for (const m of this.#recv(msg.type, what)) {
        if (m.seq !== seq) continue; // a late answer to an earlier, timed-out request
        if (m.type === NLMSG_ERROR) {
          const err = parseError(m);
          if (err.errno === 0) return out;
          throw new NetlinkError(msg.type, err.errno, what, err.message);
        }
        out.push(m);
      }
    }
  }

  /** Sends a dump request and collects every reply message until NLMSG_DONE. */
  dump(msg: MessageBuilder, what: string): NlMessage[] {
    const seq = this.#send(msg, NLM_F_REQUEST | NLM_F_DUMP, what);
    const out: NlMessage[] = [];
    for (;;) {
      for (const m of this.#recv(msg.type, what)) {
        if (m.seq !== seq) continue;
        if (m.type === NLMSG_DONE) return out;
        if (m.type === NLMSG_ERROR) {
          const err = parseError(m);
          if (err.errno === 0) return out;
          throw new NetlinkError(msg.type, err.errno, what, err.message);
        }
        out.push(m);
      }
    }
  }
}

/** True if `e` is a netlink failure with this errno name (e.g. "ENODEV", "EEXIST"). */
export function isNetlinkErrno(e: unknown, name: string): boolean {
  return e instanceof NetlinkError && errnoName(e.errno) === name;
}
