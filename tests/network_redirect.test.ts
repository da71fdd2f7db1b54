/**
 * The connect-time redirect of published loopback ports (src/network/redirect.ts): the host's
 * own connection to 127.0.0.1:<port> is connected straight to the container; a container's
 * own 127.0.0.1:<port> is its own; a socket bound to 127.0.0.1 first still gets through (DNAT);
 * after rm nothing answers. Traffic goes only to 127.0.0.1 and to containers on the network
 * this test made.
 */

import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import { daemonTest } from "./helpers/fixture.ts";
import { freePort, runOnOk, runWebServer, TestNetworks, uniqueTag } from "./helpers/network.ts";

const tag = uniqueTag();

async function get(conn: Deno.Conn, path: string): Promise<string> {
  await conn.write(new TextEncoder().encode(`GET ${path} HTTP/1.0\r\n\r\n`));
  const chunks: Uint8Array[] = [];
  const buf = new Uint8Array(65536);
  for (;;) {
    const n = await conn.read(buf);
    if (n === null) break;
    chunks.push(buf.slice(0, n));
  }
  conn.close();
  return new TextDecoder().decode(new Uint8Array(chunks.flatMap((c) => [...c])));
}

async function connectRetry(port: number): Promise<Deno.TcpConn> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      return await Deno.connect({ hostname: "127.0.0.1", port });
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

daemonTest(
  "the host's connection to a published 127.0.0.1 port goes straight to the container",
  async (d, t) => {
    const net = `pzt-redir-${tag}`;
    const name = `web-redir-${tag}`;
    const port = freePort();
    const nets = new TestNetworks(d);
    try {
      await nets.create(net);
      nets.removeLater(name);
      const { ip } = await runWebServer(d, {
        network: net,
        name,
        hostname: "redirbox",
        publish: [`127.0.0.1:${port}:80`],
      });

      await t.step(
        "the socket's peer is the container's address, and the page comes back",
        async () => {
          const conn = await connectRetry(port);
          assertEquals({ ...conn.remoteAddr }, { transport: "tcp", hostname: ip, port: 80 });
          ok((await get(conn, "/hostname")).endsWith("redirbox\n"));
        },
      );

      await t.step("a container's own 127.0.0.1 port is not redirected", async () => {
        const out = await runOnOk(
          d,
          net,
          `echo own | nc -l -p ${port} & sleep 0.5; nc 127.0.0.1 ${port}`,
        );
        assertEquals(out.trim(), "own");
      });

      await t.step("a client bound to 127.0.0.1 first still reaches the container", async () => {
        const curl = await new Deno.Command("curl", {
          args: [
            "-s",
            "--max-time",
            "5",
            "--interface",
            "127.0.0.1",
            `http://127.0.0.1:${port}/hostname`,
          ],
          stdout: "piped",
        }).output().catch(() => undefined);
        if (!curl) return; // curl not installed: nothing to bind with
        assertEquals(new TextDecoder().decode(curl.stdout).trim(), "redirbox");
      });

      await t.step("after rm, the port no longer answers", async () => {
        await d.ok(["rm", "-f", name]);
        const err = await Deno.connect({ hostname: "127.0.0.1", port }).then(
          (c) => (c.close(), undefined),
          (e) => e,
        );
        ok(err instanceof Deno.errors.ConnectionRefused, `refused, got ${err}`);
      });
    } finally {
      await nets.cleanup();
    }
  },
);
