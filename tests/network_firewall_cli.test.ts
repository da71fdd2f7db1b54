/**
 * The firewall through the CLI: `polis container firewall add` on a running container denies
 * its TCP to a peer on the same network at once and `rm` restores it (seen by the container
 * itself, probing in a loop), `polis network firewall add|ls|rm` list rules as a table and as
 * JSON, `run --firewall` sets a new container's rules, and bad flags are one-line usage
 * errors. Traffic goes only to containers on the network this test made.
 */

import { deepStrictEqual as assertEquals, match, ok } from "node:assert/strict";
import { daemonTest } from "./helpers/fixture.ts";
import {
  ncGet,
  runDetached,
  runOnOk,
  runWebServer,
  TestNetworks,
  uniqueTag,
} from "./helpers/network.ts";

const tag = uniqueTag();

daemonTest("firewall rules through the CLI, set while containers run", async (d, t) => {
  const net = `pzt-fc-${tag}`;
  const server = `fcs-${tag}`;
  const client = `fcc-${tag}`;
  const nets = new TestNetworks(d);
  try {
    await nets.create(net);
    nets.removeLater(client, server);
    const { ip: ipS } = await runWebServer(d, { network: net, name: server, hostname: "fwsrv" });
    // The client reports, every 0.3 s, whether it can fetch the server's /hostname.
    const { id: cid } = await runDetached(d, { network: net, name: client }, [
      "sh",
      "-c",
      `while :; do if ${ncGet(ipS, 80, "/hostname", 1)} | grep -q fwsrv; ` +
      `then echo reach; else echo blocked; fi; sleep 0.3; done`,
    ]);
    const sees = async (want: string) => {
      let last = "";
      for (let i = 0; i < 60; i++) {
        // Two lines in a row: one probe may have started before the change.
        const lines = (await d.ok(["logs", client])).trim().split("\n").slice(-2);
        last = lines.join(",");
        if (lines.length === 2 && lines.every((l) => l === want)) return;
        await new Promise((r) => setTimeout(r, 250));
      }
      throw new Error(`the client never saw "${want}" (last: ${last})`);
    };
    await sees("reach");

    let ruleId = "";
    await t.step("a deny egress rule on the running client blocks its TCP at once", async () => {
      ruleId = (await d.ok([
        "container",
        "firewall",
        "add",
        client,
        "--direction",
        "egress",
        "--action",
        "deny",
        "--cidr",
        `${ipS}/32`,
        "--proto",
        "tcp",
        "--port",
        "80",
      ])).trim();
      match(ruleId, /^[0-9a-f]{16}$/);
      await sees("blocked");
    });

    await t.step("ls shows the rules as a table and as JSON", async () => {
      const netRule = (await d.ok([
        "network",
        "firewall",
        "add",
        net,
        "--direction",
        "ingress",
        "--action",
        "deny",
        "--proto",
        "udp",
        "--port",
        "9",
      ])).trim();
      const table = (await d.ok(["network", "firewall", "ls", net])).trimEnd().split("\n");
      assertEquals(table[0].split(/\s{2,}/), [
        "RULE ID",
        "CONTAINER",
        "DIRECTION",
        "ACTION",
        "PROTOCOL",
        "PORT",
        "CIDR",
      ]);
      assertEquals(table.slice(1).map((l) => l.split(/\s+/)), [
        [ruleId, cid.slice(0, 12), "egress", "deny", "tcp", "80", `${ipS}/32`],
        [netRule, "-", "ingress", "deny", "udp", "9", "any"],
      ]);
      const json = (await d.ok(["network", "firewall", "ls", "--format", "json", net]))
        .trim().split("\n").map((l) => JSON.parse(l));
      assertEquals(json[0], {
        ID: ruleId,
        Container: cid.slice(0, 12),
        Direction: "egress",
        Action: "deny",
        Protocol: "tcp",
        Port: "80",
        CIDR: `${ipS}/32`,
      });
      assertEquals(json[1].ID, netRule);
      const mine = (await d.ok(["container", "firewall", "ls", "--format", "json", client]))
        .trim().split("\n").map((l) => JSON.parse(l));
      assertEquals(mine.map((r) => [r.ID, r.Network]), [[ruleId, net]]);
      assertEquals((await d.ok(["network", "firewall", "rm", net, netRule])).trim(), netRule);
      assertEquals((await d.ok(["network", "firewall", "ls", "-q", net])).trim(), ruleId);
    });

    await t.step("removing the rule (by an id prefix) restores the client's access", async () => {
      const out = await d.ok(["container", "firewall", "rm", client, ruleId.slice(0, 6)]);
      assertEquals(out.trim(), ruleId);
      await sees("reach");
      assertEquals(await d.ok(["network", "firewall", "ls", "-q", net]), "");
      const again = await d.cli(["network", "firewall", "rm", net, ruleId]);
      ok(again.code !== 0);
      match(again.stderr, /has no firewall rule/);
    });

    await t.step("run --firewall sets the new container's rules from its start", async () => {
      const get = ncGet(ipS, 80, "/hostname", 1);
      const probe = `${get} | grep -q fwsrv && echo reach || echo blocked`;
      const run = (rule: string) => runOnOk(d, net, probe, ["--firewall", rule]);
      assertEquals((await run(`egress,deny,cidr=${ipS}/32,proto=tcp,port=80`)).trim(), "blocked");
      assertEquals((await run(`egress,deny,cidr=${ipS}/32,proto=udp,port=80`)).trim(), "reach");
      const bad = await d.cli(["run", "--rm", "--firewall", "egress,drop", "busybox", "true"]);
      assertEquals(bad.code, 125);
      match(bad.stderr.split("\n")[0], /invalid argument "egress,drop" for "--firewall" flag/);
    });

    await t.step("bad flags are one-line errors with a non-zero exit", async () => {
      const add = ["network", "firewall", "add", net];
      const egressDeny = [...add, "--direction", "egress", "--action", "deny"];
      const cases: [string[], RegExp][] = [
        [[...add, "--action", "deny"], /"--direction" is required/],
        [
          [...add, "--direction", "out", "--action", "deny"],
          /invalid argument "out" for "--direction" flag/,
        ],
        [[...egressDeny, "--cidr", "1.2.3"], /for "--cidr" flag/],
        [[...egressDeny, "--port", "8080-8090"], /port ranges are not supported/],
        [["network", "firewall", "frob", net], /'frob' is not a polis network firewall command/],
        [["network", "firewall", "ls"], /requires exactly 1 argument|argument/],
      ];
      for (const [args, msg] of cases) {
        const r = await d.cli(args);
        assertEquals(r.code, 125, `${args.join(" ")}: ${r.stderr}`);
        match(r.stderr.split("\n")[0], msg);
        assertEquals(r.stdout, "");
      }
      const missing = await d.cli(["network", "firewall", "ls", `no-such-net-${tag}`]);
      assertEquals(missing.code, 1);
      match(missing.stderr, /not found/);
      assertEquals(await d.ok(["network", "firewall", "ls", "-q", net]), "", "nothing half-made");
    });
  } finally {
    await nets.cleanup();
  }
});
