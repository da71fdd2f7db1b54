/**
 * Published ports through nftables: a container's TCP port answers on 127.0.0.1, a host port
 * cannot be published twice, and the daemon's nft table goes with the last mapping. Traffic
 * goes only to 127.0.0.1 and to the container on the network this test made.
 */

import { deepStrictEqual as assertEquals, match, ok } from "node:assert/strict";
import { nftTableName } from "../src/network/mod.ts";
import { daemonTest } from "./helpers/fixture.ts";
import {
  deleteNftTable,
  fetchText,
  freePort,
  nftTable,
  publishedPorts,
  runWebServer,
  TestNetworks,
  uniqueTag,
} from "./helpers/network.ts";

const tag = uniqueTag();

function tableExists(name: string): boolean {
  return nftTable("ip", name) !== undefined;
}

daemonTest("a published TCP port answers on 127.0.0.1", async (d, t) => {
  const net = `pzt-port-${tag}`;
  const table = nftTableName(d.root);
  const port = freePort();
  const nets = new TestNetworks(d);
  try {
    await nets.create(net);
    nets.removeLater(`web-${tag}`);
    const { id } = await runWebServer(d, {
      network: net,
      name: `web-${tag}`,
      hostname: "webbox",
      publish: [`127.0.0.1:${port}:80`],
    });

    await t.step("the container's page is served through the published port", async () => {
      assertEquals((await fetchText(`http://127.0.0.1:${port}/hostname`)).trim(), "webbox");
      ok(tableExists(table), `table ip ${table} exists`);
    });

    await t.step("inspect shows the binding under NetworkSettings.Ports", async () => {
      const ports = await publishedPorts(d, id);
      assertEquals(ports, { "80/tcp": [{ HostIp: "127.0.0.1", HostPort: String(port) }] });
    });

    await t.step("the same host port cannot be published twice", async () => {
      const r = await d.cli([
        "run",
        "--rm",
        "--network",
        net,
        "-p",
        `127.0.0.1:${port}:80`,
        "busybox",
        "true",
      ]);
      ok(r.code !== 0);
      match(r.stderr, /port is already allocated/);
      // The first container still answers.
      assertEquals((await fetchText(`http://127.0.0.1:${port}/hostname`, 5000)).trim(), "webbox");
    });

    await t.step("published ports need a bridge network", async () => {
      const r = await d.cli(["create", "--network", "none", "-p", "8080:80", "busybox"]);
      assertEquals(r.code, 125);
      match(r.stderr, /published ports need a bridge network/);
      const bad = await d.cli(["create", "--network", net, "-p", "80", "busybox"]);
      match(bad.stderr, /invalid port mapping/);
    });

    await t.step("removing the container removes the mapping and the table", async () => {
      await d.ok(["rm", "-f", id]);
      ok(!tableExists(table), `table ip ${table} is gone`);
    });
  } finally {
    await nets.cleanup();
    deleteNftTable("ip", table);
  }
});
