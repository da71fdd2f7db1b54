/**
 * The userland fallback for published ports, for hosts without nftables: the daemon itself
 * listens on each host port and relays to the container (TCP: one upstream connection per
 * client connection, both directions, half-close passed on; UDP: one upstream socket per
 * client address, dropped after a minute of silence). Slower than the kernel's DNAT, and the
 * container sees the gateway as the client's address.
 * @module
 */

import dgram from "node:dgram";
import { logger, PolisError } from "../core/mod.ts";
import type { PortMapping } from "./ports.ts";

const UDP_IDLE_MS = 60_000;

interface TcpEntry {
  kind: "tcp";
  target: string;
  listener: Deno.TcpListener;
  conns: Set<Deno.Conn>;
}

interface UdpEntry {
  kind: "udp";
  target: string;
  socket: dgram.Socket;
  clients: Map<
    string,
    { upstream: dgram.Socket; timer: ReturnType<typeof setTimeout> | undefined }
  >;
}

function key(m: PortMapping): string {
  return `${m.protocol}/${m.hostIp || "0.0.0.0"}:${m.hostPort}`;
}

export class PortProxy {
  readonly #entries = new Map<string, TcpEntry | UdpEntry>();

  /** Listens on every host port of `ports`, relaying to `containerIp`; all or nothing. */
  async add(ports: PortMapping[], containerIp: string): Promise<void> {
    const added: PortMapping[] = [];
    try {
      for (const m of ports) {
        if (this.#entries.has(key(m))) {
          throw PolisError.conflict(
            `port is already allocated: ${key(m).split("/")[1]}/${m.protocol}`,
          );
        }
        const target = `${containerIp}:${m.containerPort}`;
        this.#entries.set(
          key(m),
          m.protocol === "tcp"
            ? this.#tcp(m, containerIp, target)
            : await this.#udp(m, containerIp, target),
        );
        added.push(m);
      }
    } catch (e) {
      this.remove(added, containerIp);
      if (e instanceof Deno.errors.AddrInUse || (e as { code?: string }).code === "EADDRINUSE") {
        throw PolisError.conflict(`port is already allocated: ${ports.map(key).join(", ")}`);
      }
      throw e;
    }
  }

  #tcp(m: PortMapping, ip: string, target: string): TcpEntry {
    const listener = Deno.listen({ hostname: m.hostIp || "0.0.0.0", port: m.hostPort });
    const entry: TcpEntry = { kind: "tcp", target, listener, conns: new Set() };
    void (async () => {
      try {
        for await (const client of listener) {
          void relayTcp(client, ip, m.containerPort, entry.conns);
        }
      } catch {
        // listener closed
      }
    })();
    return entry;
  }

  async #udp(m: PortMapping, ip: string, target: string): Promise<UdpEntry> {
    const socket = dgram.createSocket("udp4");
    await new Promise<void>((resolve, reject) => {
      socket.once("error", reject);
      socket.bind({ address: m.hostIp || "0.0.0.0", port: m.hostPort }, () => {
        socket.off("error", reject);
        resolve();
      });
    });
    const entry: UdpEntry = { kind: "udp", target, socket, clients: new Map() };
    socket.on("error", (e) => logger.warn("udp proxy", { port: m.hostPort, error: String(e) }));
    socket.on("message", (msg, from) => {
      const id = `${from.address}:${from.port}`;
      let c = entry.clients.get(id);
      if (!c) {
        const upstream = dgram.createSocket("udp4");
        upstream.on("error", () => {});
        upstream.on("message", (reply) => socket.send(reply, from.port, from.address));
        c = { upstream, timer: undefined };
        entry.clients.set(id, c);
      }
      clearTimeout(c.timer);
      const client = c;
      c.timer = setTimeout(() => {
        client.upstream.close();
        entry.clients.delete(id);
      }, UDP_IDLE_MS);
      c.upstream.send(msg, m.containerPort, ip);
    });
    return entry;
  }

  /** Stops relaying `ports` to `containerIp` (a port now relaying elsewhere is left alone). */
  remove(ports: PortMapping[], containerIp: string): void {
    for (const m of ports) {
      const e = this.#entries.get(key(m));
      if (!e || e.target !== `${containerIp}:${m.containerPort}`) continue;
      this.#entries.delete(key(m));
      close(e);
    }
  }

  /** Host ports currently relayed ("tcp/0.0.0.0:8080" → "10.1.0.2:80"). */
  list(): Record<string, string> {
    return Object.fromEntries([...this.#entries].map(([k, e]) => [k, e.target]));
  }

  close(): void {
    for (const e of this.#entries.values()) close(e);
    this.#entries.clear();
  }
}

function close(e: TcpEntry | UdpEntry): void {
  try {
    if (e.kind === "tcp") {
      e.listener.close();
      for (const c of e.conns) c.close();
    } else {
      e.socket.close();
      for (const c of e.clients.values()) {
        clearTimeout(c.timer);
        c.upstream.close();
      }
    }
  } catch {
    // already closed
  }
}

async function relayTcp(client: Deno.Conn, ip: string, port: number, conns: Set<Deno.Conn>) {
  let upstream: Deno.TcpConn;
  try {
    upstream = await Deno.connect({ hostname: ip, port });
  } catch {
    client.close();
    return;
  }
  conns.add(client);
  conns.add(upstream);
  const pipe = async (from: Deno.Conn, to: Deno.TcpConn | Deno.Conn) => {
    const buf = new Uint8Array(64 * 1024);
    try {
      for (;;) {
        const n = await from.read(buf);
        if (n === null) break;
        let off = 0;
        while (off < n) off += await to.write(buf.subarray(off, n));
      }
      await (to as Deno.TcpConn).closeWrite();
    } catch {
      // either side went away
    }
  };
  await Promise.all([pipe(client, upstream), pipe(upstream, client)]);
  for (const c of [client, upstream]) {
    conns.delete(c);
    try {
      c.close();
    } catch {
      // already closed
    }
  }
}
