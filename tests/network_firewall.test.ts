/**
 * Firewall rules enforced in nftables: a network rule added through the API blocks a port
 * between two containers on the same bridge (switched traffic, filtered in the bridge family)
 * while other traffic passes, removing it restores access, and a container's own `firewall`
 * (set at create) denies its egress to one peer. Traffic goes only to containers on the
 * network this test made.
 */

import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import { nftTableName } from "../src/network/mod.ts";
import { daemonTest } from "./helpers/fixture.ts";
import {
  api,
  deleteNftTable,
  ncGet,
  nftTable,
  runOnOk,
  runWebServer,
  TestNetworks,
  uniqueTag,
} from "./helpers/network.ts";

const tag = uniqueTag();

daemonTest("firewall rules block and unblock traffic in the kernel", async (d, t) => {
  const net = `pzt-fw-${tag}`;
  const server = `fws-${tag}`;
  const table = `${nftTableName(d.root)}_net`;
  const nets = new TestNetworks(d);
  try {
    await nets.create(net);
    nets.removeLater(server);
    const { id: sid, ip: ipS } = await runWebServer(d, {
      network: net,
      name: server,
      hostname: "fwbox",
    });
    const probe = () =>
      runOnOk(d, net, `ping -c1 -W1 ${ipS} >/dev/null && echo ping-ok; ${ncGet(ipS, 80)}`);
    assertEquals((await probe()).trim().split("\n"), ["ping-ok", "fwbox"]);

    let ruleId = "";
    await t.step("a deny rule on the server's port blocks it; ping still passes", async () => {
      const r = await api(d, "POST", `/networks/${net}/rules`, {
        direction: "ingress",
        action: "deny",
        protocol: "tcp",
        port: 80,
        container: server,
      });
      assertEquals(r.status, 201, JSON.stringify(r.json));
      ruleId = r.json.Id;
      assertEquals((await probe()).trim().split("\n"), ["ping-ok"]);
      const list = await api(d, "GET", `/networks/${net}/rules`);
      assertEquals(list.json, [{
        Id: ruleId,
        containerId: sid,
        direction: "ingress",
        action: "deny",
        port: 80,
        protocol: "tcp",
      }]);
      const bad = await api(d, "POST", `/networks/${net}/rules`, {
        direction: "ingress",
        action: "deny",
        protocol: "icmp",
        port: 1,
      });
      assertEquals(bad.status, 400);
    });

    await t.step("removing the rule restores access", async () => {
      assertEquals((await api(d, "DELETE", `/networks/${net}/rules/${ruleId}`)).status, 204);
      assertEquals((await probe()).trim().split("\n"), ["ping-ok", "fwbox"]);
      assertEquals((await api(d, "DELETE", `/networks/${net}/rules/${ruleId}`)).status, 404);
    });

    await t.step("a container's own firewall denies its egress to one peer", async () => {
      const created = await api(d, "POST", "/containers", {
        image: "busybox",
        networkMode: net,
        firewall: [{ direction: "egress", action: "deny", cidr: `${ipS}/32` }],
        cmd: ["sh", "-c", `ping -c1 -W1 ${ipS} >/dev/null && echo reached || echo blocked`],
      });
      assertEquals(created.status, 201, JSON.stringify(created.json));
      const id = created.json.Id;
      await d.ok(["start", id]);
      await d.ok(["wait", id]);
      assertEquals((await d.ok(["logs", id])).trim(), "blocked");
      await d.ok(["rm", id]);
      const none = await d.cli(["run", "--rm", "--network", "none", "busybox", "true"]);
      assertEquals(none.code, 0);
    });

    await t.step("rm and network rm leave no firewall table", async () => {
      await d.ok(["rm", "-f", sid]);
      await d.ok(["network", "rm", net]);
      for (const fam of ["ip", "bridge"] as const) {
        ok(nftTable(fam, table) === undefined, `table ${fam} ${table} is gone`);
      }
    });
  } finally {
    await nets.cleanup();
    for (const fam of ["ip", "bridge"] as const) deleteNftTable(fam, table);
  }
});
