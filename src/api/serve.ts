/**
 * Serves the API app on a unix socket (mode 0660) and, optionally, on TCP.
 *
 * Shutdown is prompt even with clients following logs: every streaming response body is
 * tracked and cut on `close()`, which also cancels the engine iterator behind it.
 * @module
 */

import { dirname } from "node:path";
import { PolisError } from "../core/mod.ts";

export interface ServeOptions {
  socket: string;
  /** Also listen on TCP. Unauthenticated: bind it to a loopback or trusted address only. */
  tcp?: { hostname: string; port: number };
}

export interface ApiServer {
  /** Stops listening, ends open streams and removes the socket file. */
  close(): Promise<void>;
  /** The TCP address bound, when `tcp` was given (useful with port 0). */
  tcpAddr?: Deno.NetAddr;
}

interface FetchApp {
  fetch(request: Request): Response | Promise<Response>;
}

/**
 * Fails when a daemon still answers on `path`. `serveApi` replaces any socket file it finds
 * (it cannot probe synchronously), so a daemon calls this first unless a lock already
 * guarantees it is alone.
 */
export async function assertSocketFree(path: string): Promise<void> {
  let conn: Deno.UnixConn;
  try {
    conn = await Deno.connect({ transport: "unix", path });
  } catch {
    return;
  }
  conn.close();
  throw PolisError.conflict(`another daemon is listening on ${path}`);
}

/** Removes a socket file left behind by an earlier daemon; refuses to remove anything else. */
function removeStaleSocket(path: string): void {
  let info: Deno.FileInfo;
  try {
    info = Deno.lstatSync(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return;
    throw err;
  }
  if (!info.isSocket) {
    throw PolisError.precondition(`${path} exists and is not a socket: refusing to replace it`);
  }
  Deno.removeSync(path);
}

/** Wraps a response body so `cut()` can end it from outside. */
function trackBody(res: Response, open: Set<() => void>): Response {
  if (!res.body) return res;
  const reader = res.body.getReader();
  let cut = () => {};
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      cut = () => {
        open.delete(cut);
        void reader.cancel().catch(() => {});
        try {
          controller.close();
        } catch {
          // Already closed or errored.
        }
      };
      open.add(cut);
    },
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (done) {
          open.delete(cut);
          controller.close();
        } else controller.enqueue(value);
      } catch (err) {
        open.delete(cut);
        controller.error(err);
      }
    },
    cancel(reason) {
      open.delete(cut);
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
  return new Response(body, {
    status: res.status,
    statusText: res.statusText,
    headers: res.headers,
  });
}

export function serveApi(app: FetchApp, opts: ServeOptions): ApiServer {
  Deno.mkdirSync(dirname(opts.socket), { recursive: true });
  removeStaleSocket(opts.socket);

  const open = new Set<() => void>();
  const handler = async (req: Request) => trackBody(await app.fetch(req), open);
  const servers: Deno.HttpServer[] = [];
  let tcpAddr: Deno.NetAddr | undefined;
  try {
    servers.push(Deno.serve({ path: opts.socket, transport: "unix", onListen() {} }, handler));
    Deno.chmodSync(opts.socket, 0o660);
    if (opts.tcp) {
      const tcp = Deno.serve({ ...opts.tcp, onListen() {} }, handler);
      servers.push(tcp);
      tcpAddr = tcp.addr as Deno.NetAddr;
    }
  } catch (err) {
    for (const s of servers) void s.shutdown();
    try {
      Deno.removeSync(opts.socket);
    } catch {
      // Never created.
    }
    throw err;
  }

  let closing: Promise<void> | undefined;
  return {
    tcpAddr,
    close() {
      closing ??= (async () => {
        const shutdowns = servers.map((s) => s.shutdown());
        for (const cut of [...open]) cut();
        await Promise.all(shutdowns);
        try {
          Deno.removeSync(opts.socket);
        } catch {
          // Already gone.
        }
      })();
      return closing;
    },
  };
}
