/**
 * Published ports beyond the basic TCP case: hairpin (containers on the same and on another
 * network reach a published port through a host address), a published UDP port delivers
 * datagrams sent from the host to 127.0.0.1, and `-P` publishes an image's exposed ports on
 * free host ports. Traffic goes only to 127.0.0.1 and to addresses of networks made here
 * (the ports are published on this test's gateway address or on 127.0.0.1).
 */

import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import { nftTableName } from "../src/network/mod.ts";
import { busyboxImages } from "./helpers/image.ts";
import { daemonTest } from "./helpers/fixture.ts";
import {
  deleteNftTable,
  fetchFromContainer,
  fetchText,
  freePort,
  ipamOf,
  publishedPorts,
  runWebServer,
  TestNetworks,
  udpReachesContainer,
  uniqueTag,
} from "./helpers/network.ts";

const tag = uniqueTag();

daemonTest("published ports: hairpin, UDP and -P", async (d, t) => {
  const netA = `pzt-pa-${tag}`;
  const netC = `pzt-pc-${tag}`;
  const tables = [nftTableName(d.root), `${nftTableName(d.root)}_net`];
  const imgDir = Deno.makeTempDirSync({ prefix: "polis-pub-img-" });
  const nets = new TestNetworks(d);
  try {
    for (const n of [netA, netC]) await nets.create(n);
    const gwA = (await ipamOf(d, netA)).Gateway;
    const webPort = freePort();
    nets.removeLater(`pweb-${tag}`);
    await runWebServer(d, {
      network: netA,
      name: `pweb-${tag}`,
      hostname: "webbox",
      publish: [`${gwA}:${webPort}:80`],
    });
    const fetchFrom = (net: string) => fetchFromContainer(d, net, gwA, webPort);

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
      const udpPort = freePort();
      const id = await udpReachesContainer(d, netA, udpPort);
      const ports = await publishedPorts(d, id);
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
      const ports = await publishedPorts(d, id);
      const host = Number(ports["80/tcp"]?.[0]?.HostPort);
      ok(host >= 49153 && host <= 65535, JSON.stringify(ports));
      const text = await fetchText(`http://127.0.0.1:${host}/hostname`);
      assertEquals(text.trim(), "pbox");
      await d.ok(["rm", "-f", id]);
    });
  } finally {
    const ids = (await d.cli(["ps", "-aq"])).stdout.split("\n").filter(Boolean);
    if (ids.length) await d.cli(["rm", "-f", ...ids]).catch(() => {});
    await nets.cleanup();
    for (const tb of tables) deleteNftTable("ip", tb);
    Deno.removeSync(imgDir, { recursive: true });
    await Deno.remove(`${imgDir}.tar`).catch(() => {});
  }
});
