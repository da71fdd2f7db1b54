/**
 * Firewall rules enforced in nftables: a network rule added through the API blocks a port
 * between two containers on the same bridge (switched traffic, filtered in the bridge family)
 * while other traffic passes, removing it restores access, and a container's own `firewall`
 * (set at create) denies its egress to one peer. Traffic goes only to containers on the
 * network this test made.
 */

import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import { Rtnl } from "../ffi/mod.ts";
import { nftTableName } from "../src/network/mod.ts";
import { daemonTest } from "./helpers/fixture.ts";
import type { TestDaemon } from "./helpers/daemon.ts";

const tag = crypto.randomUUID().slice(0, 6);

async function api(d: TestDaemon, method: string, path: string, body?: unknown) {
  const client = Deno.createHttpClient({ proxy: { transport: "unix", path: d.socket } });
  try {
    const r = await fetch(`http://127.0.0.1/v1${path}`, {
      method,
      client,
      headers: body ? { "content-type": "application/json" } : {},
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await r.text();
    return { status: r.status, json: text ? JSON.parse(text) : undefined };
  } finally {
    client.close();
  }
}

daemonTest("firewall rules block and unblock traffic in the kernel", async (d, t) => {
  const net = `pzt-fw-${tag}`;
  const server = `fws-${tag}`;
  let bridge = "";
  const table = `${nftTableName(d.root)}_net`;
  try {
    bridge = `pbr-${(await d.ok(["network", "create", net])).trim().slice(0, 11)}`;
    const sid = (await d.ok([
      "run",
      "-d",
      "--name",
      server,
      "--hostname",
      "fwbox",
      "--network",
      net,
      "busybox",
      "httpd",
      "-f",
      "-p",
      "80",
      "-h",
      "/etc",
    ])).trim();
    const ipS = JSON.parse(
      await d.ok(["inspect", "-f", "{{json .NetworkSettings.Networks}}", sid]),
    )[net].IPAddress as string;
    const probe = () =>
      d.ok([
        "run",
        "--rm",
        "--network",
        net,
        "busybox",
        "sh",
        "-c",
        `ping -c1 -W1 ${ipS} >/dev/null && echo ping-ok; ` +
        `printf "GET /hostname HTTP/1.0\\r\\n\\r\\n" | nc -w 2 ${ipS} 80 | tail -1`,
      ]);
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
      for (const fam of ["ip", "bridge"]) {
        const out = new Deno.Command("nft", { args: ["list", "table", fam, table], stderr: "null" })
          .outputSync();
        ok(!out.success, `table ${fam} ${table} is gone`);
      }
    });
  } finally {
    await d.cli(["rm", "-f", server]).catch(() => {});
    await d.cli(["network", "rm", net]).catch(() => {});
    if (bridge) {
      using nl = new Rtnl();
      nl.deleteLinkIfExists(bridge);
    }
    for (const fam of ["ip", "bridge"]) {
      new Deno.Command("nft", { args: ["delete", "table", fam, table], stderr: "null" })
        .outputSync();
    }
  }
});
