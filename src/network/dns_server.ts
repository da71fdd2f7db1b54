/**
 * The embedded DNS server of one network: UDP and TCP port 53 on the network's gateway
 * address. It answers A and AAAA queries for the names `lookup` knows (containers and aliases
 * on the network; AAAA with the IPv6 addresses of a dual-stack network) with authority, other
 * types (or a family a name has no address of) with an empty answer, and other
 * names by relaying the query to `upstream` servers — only when some are configured; without
 * any it answers REFUSED at once, so no query ever leaves the host unless asked to.
 * @module
 */

import dgram from "node:dgram";
import { logger } from "../core/mod.ts";
import {
  decodeQuery,
  encodeResponse,
  formatError,
  type Query,
  RCODE_NOERROR,
  RCODE_REFUSED,
  RCODE_SERVFAIL,
  TYPE_A,
  TYPE_AAAA,
  TYPE_ANY,
} from "./dns_message.ts";

/**
 * Addresses (IPv4 and IPv6) for `name` (lower case, no trailing dot), or undefined when it is
 * not ours.
 */
export type DnsLookup = (name: string) => string[] | undefined;

export interface DnsServerOptions {
  address: string;
  port?: number;
  lookup: DnsLookup;
  /** Upstream servers ("ip" or "ip:port") for other names; none → REFUSED. */
  upstream?: string[];
  ttl?: number;
  /** How long to wait for an upstream answer (default 2 s). */
  upstreamTimeoutMs?: number;
}

export class DnsServer {
  #udp?: dgram.Socket;
  #tcp?: Deno.TcpListener;
  #conns = new Set<Deno.TcpConn>();
  #closed = false;

  constructor(readonly opts: DnsServerOptions) {}

  get port(): number {
    return this.opts.port ?? 53;
  }

  /** Binds UDP and TCP; rejects (and leaves nothing bound) if either cannot bind. */
  async start(): Promise<void> {
    const udp = dgram.createSocket({ type: "udp4", reuseAddr: false });
    await new Promise<void>((resolve, reject) => {
      udp.once("error", reject);
      udp.bind({ address: this.opts.address, port: this.port }, () => {
        udp.off("error", reject);
        resolve();
      });
    });
    udp.on(
      "error",
      (e) => logger.warn("dns udp", { address: this.opts.address, error: String(e) }),
    );
    udp.on("message", (msg, rinfo) => {
      void this.answer(new Uint8Array(msg)).then((out) => {
        if (out && !this.#closed) udp.send(out, rinfo.port, rinfo.address);
      });
    });
    this.#udp = udp;
    try {
      this.#tcp = Deno.listen({ hostname: this.opts.address, port: this.port, transport: "tcp" });
    } catch (e) {
      udp.close();
      this.#udp = undefined;
      throw e;
    }
    void this.#acceptLoop(this.#tcp);
  }

  async #acceptLoop(l: Deno.TcpListener): Promise<void> {
    try {
      for await (const conn of l) {
        this.#conns.add(conn);
        void this.#serveTcp(conn).finally(() => {
          this.#conns.delete(conn);
          try {
            conn.close();
          } catch {
            // already closed
          }
        });
      }
    } catch {
      // listener closed
    }
  }

  /** TCP: 2-byte length-prefixed messages, answered in order until the client closes. */
  async #serveTcp(conn: Deno.TcpConn): Promise<void> {
    let buf = new Uint8Array(0);
    const chunk = new Uint8Array(4096);
    for (;;) {
      const n = await conn.read(chunk).catch(() => null);
      if (n === null) return;
      const joined = new Uint8Array(buf.length + n);
      joined.set(buf);
      joined.set(chunk.subarray(0, n), buf.length);
      buf = joined;
      while (buf.length >= 2) {
        const len = (buf[0] << 8) | buf[1];
        if (buf.length < 2 + len) break;
        const msg = buf.slice(2, 2 + len);
        buf = buf.slice(2 + len);
        const out = await this.answer(msg, "tcp");
        if (!out) return;
        const framed = new Uint8Array(2 + out.length);
        framed[0] = out.length >> 8;
        framed[1] = out.length & 255;
        framed.set(out, 2);
        let off = 0;
        while (off < framed.length) off += await conn.write(framed.subarray(off));
      }
    }
  }

  /** The reply to one message (undefined: say nothing). */
  async answer(msg: Uint8Array, transport: "udp" | "tcp" = "udp"): Promise<Uint8Array | undefined> {
    let q: Query;
    try {
      q = decodeQuery(msg);
    } catch {
      return formatError(msg);
    }
    const question = q.questions[0];
    if (!question || (q.flags & 0x7800) !== 0) return encodeResponse(q, { rcode: RCODE_REFUSED });
    const found = this.opts.lookup(question.name);
    if (found) {
      const wanted = (address: string) =>
        question.type === TYPE_ANY ||
        (address.includes(":") ? question.type === TYPE_AAAA : question.type === TYPE_A);
      const answers = found.filter(wanted).map((address) => ({
        name: question.name,
        ttl: this.opts.ttl ?? 600,
        address,
      }));
      return encodeResponse(q, { rcode: RCODE_NOERROR, authoritative: true, answers });
    }
    const upstream = this.opts.upstream ?? [];
    if (!upstream.length) return encodeResponse(q, { rcode: RCODE_REFUSED });
    for (const server of upstream) {
      const reply = await relayUdp(msg, server, this.opts.upstreamTimeoutMs ?? 2000);
      // A truncated UDP answer over TCP would need a TCP relay: let the client retry itself.
      if (reply && (transport === "udp" || !(reply[2] & 0x02))) return reply;
    }
    return encodeResponse(q, { rcode: RCODE_SERVFAIL, recursion: true });
  }

  close(): void {
    this.#closed = true;
    try {
      this.#udp?.close();
    } catch {
      // already closed
    }
    try {
      this.#tcp?.close();
    } catch {
      // already closed
    }
    for (const c of this.#conns) {
      try {
        c.close();
      } catch {
        // already closed
      }
    }
    this.#conns.clear();
  }
}

function relayUdp(
  msg: Uint8Array,
  server: string,
  timeoutMs: number,
): Promise<Uint8Array | undefined> {
  const [host, port] = server.includes(":") ? server.split(":") : [server, "53"];
  return new Promise((resolve) => {
    const s = dgram.createSocket("udp4");
    const done = (r: Uint8Array | undefined) => {
      clearTimeout(timer);
      try {
        s.close();
      } catch {
        // already closed
      }
      resolve(r);
    };
    const timer = setTimeout(() => done(undefined), timeoutMs);
    s.on("error", () => done(undefined));
    s.on("message", (m) => {
      // Only the answer to this query (same id).
      if (m.length >= 2 && m[0] === msg[0] && m[1] === msg[1]) done(new Uint8Array(m));
    });
    s.send(msg, Number(port), host);
  });
}
