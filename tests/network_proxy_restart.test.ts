/**
 * Published ports through the userland proxy (POLIS_PORT_DRIVER=proxy) live in the daemon:
 * after a kill -9 of the daemon, and after a graceful stop, the restarted daemon listens
 * again for the running containers it adopts, and stops when the container stops. Traffic
 * goes only to 127.0.0.1 and to a container on the network this test made.
 */

import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import { Rtnl } from "../ffi/mod.ts";
import { daemonTest } from "./helpers/fixture.ts";
import type { TestDaemon } from "./helpers/daemon.ts";

const tag = crypto.randomUUID().slice(0, 6);

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

/** A host port nothing listens on now. */
function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** The body of GET /hostname through 127.0.0.1:port, or the error's name. */
async function fetchHostname(port: number): Promise<string> {
  for (let i = 0; i < 20; i++) {
    try {
      const ctl = AbortSignal.timeout(3000);
      const r = await fetch(`http://127.0.0.1:${port}/hostname`, { signal: ctl });
      return (await r.text()).trim();
    } catch (e) {
      // httpd may still be starting inside the container
      if (i === 19) return (e as Error).name;
      await new Promise((r) => setTimeout(r, 150));
    }
  }
  return "unreachable";
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
  let bridge = "";
  try {
    await d.stop();
    await startWithProxy(d);
    bridge = `pbr-${(await d.ok(["network", "create", net])).trim().slice(0, 11)}`;
    await d.ok([
      "run",
      "-d",
      "--name",
      name,
      "--hostname",
      "proxied",
      "--network",
      net,
      "-p",
      `127.0.0.1:${port}:80`,
      "busybox",
      "httpd",
      "-f",
      "-p",
      "80",
      "-h",
      "/etc",
    ]);
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
  } finally {
    await d.cli(["rm", "-f", name]).catch(() => {});
    await d.cli(["network", "rm", net]).catch(() => {});
    if (bridge) {
      using nl = new Rtnl();
      nl.deleteLinkIfExists(bridge);
    }
  }
});
