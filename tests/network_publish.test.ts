/**
 * Published ports beyond the basic TCP case: hairpin (containers on the same and on another
 * network reach a published port through a host address), a published UDP port delivers
 * datagrams sent from the host to 127.0.0.1, and `-P` publishes an image's exposed ports on
 * free host ports. Traffic goes only to 127.0.0.1 and to addresses of networks made here
 * (the ports are published on this test's gateway address or on 127.0.0.1).
 */

import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import dgram from "node:dgram";
import { Rtnl } from "../ffi/mod.ts";
import { nftTableName } from "../src/network/mod.ts";
import { busyboxImages } from "./helpers/image.ts";
import { daemonTest } from "./helpers/fixture.ts";

const tag = crypto.randomUUID().slice(0, 6);
const port = () => 20000 + Math.floor(Math.random() * 20000);

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const v = await fn();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
}

daemonTest("published ports: hairpin, UDP and -P", async (d, t) => {
  const netA = `pzt-pa-${tag}`;
  const netC = `pzt-pc-${tag}`;
  const bridges: string[] = [];
  const tables = [nftTableName(d.root), `${nftTableName(d.root)}_net`];
  const imgDir = Deno.makeTempDirSync({ prefix: "polis-pub-img-" });
  try {
    for (const n of [netA, netC]) {
      const id = (await d.ok(["network", "create", n])).trim();
      bridges.push(`pbr-${id.slice(0, 11)}`);
    }
    const gwA = JSON.parse(await d.ok(["network", "inspect", netA]))[0].IPAM.Config[0].Gateway;
    const webPort = port();
    await d.ok([
      "run",
      "-d",
      "--name",
      `pweb-${tag}`,
      "--hostname",
      "webbox",
      "--network",
      netA,
      "-p",
      `${gwA}:${webPort}:80`,
      "busybox",
      "httpd",
      "-f",
      "-p",
      "80",
      "-h",
      "/etc",
    ]);
    const fetchFrom = (net: string) =>
      d.cli([
        "run",
        "--rm",
        "--network",
        net,
        "busybox",
        "sh",
        "-c",
        `for i in 1 2 3 4 5; do printf "GET /hostname HTTP/1.0\\r\\n\\r\\n" | nc -w 2 ${gwA} ${webPort} | tail -1 | grep . && exit 0; sleep 0.3; done; exit 1`,
      ]);

    await t.step(
      "hairpin: a container on the same network reaches the published port",
      async () => {
        const r = await fetchFrom(netA);
        assertEquals(r.stdout.trim(), "webbox", r.stderr);
      },
    );

    await t.step("a container on another network reaches the published port too", async () => {
      const r = await fetchFrom(netC);
      assertEquals(r.stdout.trim(), "webbox", r.stderr);
    });

    await t.step("a published UDP port delivers datagrams sent to 127.0.0.1", async () => {
      const udpPort = port();
      // busybox here has no UDP server: the container reports its kernel's UDP counters, and
      // a datagram to a port nobody listens on counts as NoPorts inside its namespace.
      const id = (await d.ok([
        "run",
        "-d",
        "--network",
        netA,
        "-p",
        `127.0.0.1:${udpPort}:7777/udp`,
        "busybox",
        "sh",
        "-c",
        `while :; do awk '/^Udp:/{n++} n==2{print "udp-noports", $3; exit}' /proc/net/snmp; sleep 0.2; done`,
      ])).trim();
      const noPorts = async () => {
        const lines = (await d.ok(["logs", "--tail", "1", id])).trim().split("\n");
        const m = /udp-noports (\d+)/.exec(lines.at(-1) ?? "");
        return m ? Number(m[1]) : undefined;
      };
      const before = await waitFor("the counters", noPorts);
      const s = dgram.createSocket("udp4");
      s.on("error", () => {}); // ICMP port unreachable coming back, as expected
      try {
        const after = await waitFor("a datagram in the container", async () => {
          await new Promise<void>((r) => s.send("ping", udpPort, "127.0.0.1", () => r()));
          const n = await noPorts();
          return n !== undefined && n > before ? n : undefined;
        });
        ok(after > before);
      } finally {
        s.close();
      }
      const ports = JSON.parse(
        await d.ok(["inspect", "-f", "{{json .NetworkSettings.Ports}}", id]),
      );
      assertEquals(ports, { "7777/udp": [{ HostIp: "127.0.0.1", HostPort: String(udpPort) }] });
      await d.ok(["rm", "-f", id]);
    });

    await t.step("-P publishes the image's exposed ports on free host ports", async () => {
      const imgs = await busyboxImages();
      await new Deno.Command("cp", { args: ["-a", `${imgs.ociDir}/.`, imgDir] }).output();
      const cfg = await new Deno.Command("umoci", {
        args: [
          "config",
          "--image",
          `${imgDir}:busybox:latest`,
          "--tag",
          `pweb-${tag}:latest`,
          "--config.exposedports",
          "80/tcp",
        ],
        stderr: "piped",
      }).output();
      ok(cfg.success, new TextDecoder().decode(cfg.stderr));
      const tar = await new Deno.Command("tar", {
        args: ["-cf", `${imgDir}.tar`, "-C", imgDir, "."],
      }).output();
      ok(tar.success);
      await d.ok(["load", "-i", `${imgDir}.tar`]);
      const id = (await d.ok([
        "run",
        "-d",
        "-P",
        "--hostname",
        "pbox",
        "--network",
        netA,
        `pweb-${tag}:latest`,
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/etc",
      ])).trim();
      const ports = JSON.parse(
        await d.ok(["inspect", "-f", "{{json .NetworkSettings.Ports}}", id]),
      );
      const host = Number(ports["80/tcp"]?.[0]?.HostPort);
      ok(host >= 49153 && host <= 65535, JSON.stringify(ports));
      const text = await waitFor("the page", async () => {
        try {
          const r = await fetch(`http://127.0.0.1:${host}/hostname`, {
            signal: AbortSignal.timeout(1000),
          });
          return r.ok ? await r.text() : undefined;
        } catch {
          return undefined;
        }
      });
      assertEquals(text.trim(), "pbox");
      await d.ok(["rm", "-f", id]);
    });
  } finally {
    await d.cli(["rm", "-f", `pweb-${tag}`]).catch(() => {});
    const ids = (await d.cli(["ps", "-aq"])).stdout.split("\n").filter(Boolean);
    if (ids.length) await d.cli(["rm", "-f", ...ids]).catch(() => {});
    await d.cli(["network", "rm", netA, netC]).catch(() => {});
    using nl = new Rtnl();
    for (const b of bridges) nl.deleteLinkIfExists(b);
    for (const tb of tables) {
      new Deno.Command("nft", { args: ["delete", "table", "ip", tb], stderr: "null" }).outputSync();
    }
    Deno.removeSync(imgDir, { recursive: true });
    await Deno.remove(`${imgDir}.tar`).catch(() => {});
  }
});
