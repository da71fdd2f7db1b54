/**
 * Published ports through the userland proxy (POLIS_PORT_DRIVER=proxy) live in the daemon:
 * after a kill -9 of the daemon, and after a graceful stop, the restarted daemon listens
 * again for the running containers it adopts, and stops when the container stops. Traffic
 * goes only to 127.0.0.1 and to a container on the network this test made.
 */

import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import { daemonTest } from "./helpers/fixture.ts";
import type { TestDaemon } from "./helpers/daemon.ts";
import { fetchText, freePort, runWebServer, TestNetworks, uniqueTag } from "./helpers/network.ts";

const tag = uniqueTag();

/** Starts the daemon with the proxy port driver (the env is read once, at spawn). */
async function startWithProxy(d: TestDaemon): Promise<void> {
  const before = Deno.env.get("POLIS_PORT_DRIVER");
  Deno.env.set("POLIS_PORT_DRIVER", "proxy");
  let started: Promise<void>;
  try {
    started = d.start(); // spawns synchronously, before its first await
  } finally {
    if (before === undefined) Deno.env.delete("POLIS_PORT_DRIVER");
    else Deno.env.set("POLIS_PORT_DRIVER", before);
  }
  await started;
}

/** The body of GET /hostname through 127.0.0.1:port, trimmed (fails when none comes). */
async function fetchHostname(port: number): Promise<string> {
  return (await fetchText(`http://127.0.0.1:${port}/hostname`)).trim();
}

function refused(port: number): Promise<boolean> {
  return Deno.connect({ hostname: "127.0.0.1", port }).then(
    (c) => {
      c.close();
      return false;
    },
    (e) => e instanceof Deno.errors.ConnectionRefused,
  );
}

daemonTest("proxied published ports listen again after the daemon restarts", async (d, t) => {
  const net = `pzt-pr-${tag}`;
  const name = `prw-${tag}`;
  const port = freePort();
  await d.stop();
  await startWithProxy(d);
  await using nets = new TestNetworks(d);
  nets.removeLater(name);
  await nets.create(net);
  await runWebServer(d, {
    name,
    hostname: "proxied",
    network: net,
    publish: [`127.0.0.1:${port}:80`],
  });
  assertEquals(await fetchHostname(port), "proxied");

  await t.step("after kill -9 and a restart the port answers again", async () => {
    await d.stop("SIGKILL");
    ok(await refused(port), "the port died with the daemon");
    await startWithProxy(d);
    assertEquals(await fetchHostname(port), "proxied");
  });

  await t.step("after a graceful stop and a restart the port answers again", async () => {
    await d.stop("SIGTERM");
    ok(await refused(port), "the port closed with the daemon");
    await startWithProxy(d);
    assertEquals(await fetchHostname(port), "proxied");
  });

  await t.step("stopping the adopted container closes the port", async () => {
    await d.ok(["stop", "-t", "1", name]);
    ok(await refused(port), "nothing listens after stop");
  });
});
