/**
 * The iptables backend (`polis daemon --firewall-backend iptables`, the fallback where the nft
 * tool is missing): published TCP and UDP ports answer on 127.0.0.1 and, by hairpin, to
 * containers; networks are isolated; non-internal subnets are masqueraded and internal ones not;
 * firewall rules block and unblock; a daemon killed with SIGKILL and started again rebuilds its
 * chains (ports still work, no duplicate jump rules); and rm, network rm and stop leave no chain
 * or rule with the daemon's prefix. Only chains with that prefix and the jumps into them are
 * ever written. Traffic goes only to 127.0.0.1 and to networks this test made.
 */

import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import { bridgedTrafficFiltered, iptablesPrefix, nftTableName } from "../src/network/mod.ts";
import { daemonTest } from "./helpers/fixture.ts";
import {
  api,
  fetchFromContainer,
  fetchText,
  freePort,
  ipamOf,
  iptablesLines as ours,
  ncGet,
  nftTable,
  pingFrom,
  runOn,
  runWebServer,
  TestNetworks,
  udpReachesContainer,
  uniqueTag,
} from "./helpers/network.ts";

const tag = uniqueTag();

daemonTest(
  "the iptables backend publishes ports, isolates and masquerades networks, and cleans up",
  async (d, t) => {
    const prefix = iptablesPrefix(nftTableName(d.root));
    const netA = `pzt-ia-${tag}`;
    const netC = `pzt-ic-${tag}`;
    const netI = `pzt-ii-${tag}`;
    const netS = `pzt-is-${tag}`;
    const web = `iweb-${tag}`;
    await using nets = new TestNetworks(d);
    nets.removeLater(web);
    for (
      const [n, flags] of [[netA, []], [netC, []], [netI, ["--internal"]], [netS, [
        "--ipv6",
      ]]] as const
    ) {
      await nets.create(n, flags);
    }
    const [brA, brC, brI, brS] = nets.bridges;
    const [a, c, i] = [await ipamOf(d, netA), await ipamOf(d, netC), await ipamOf(d, netI)];

    await t.step("non-internal subnets are masqueraded, internal ones not, in our chains", () => {
      const lines = ours(prefix);
      const POST = `-A ${prefix}-POST`;
      ok(lines.includes(`${POST} -s ${a.Subnet} ! -o ${brA} -j MASQUERADE`), lines.join("\n"));
      ok(lines.includes(`${POST} -s ${c.Subnet} ! -o ${brC} -j MASQUERADE`), lines.join("\n"));
      ok(!lines.some((l) => l.includes(i.Subnet)), `no NAT for the internal network`);
      ok(lines.includes(`-A ${prefix}-FWD -i ${brI} ! -o ${brI} -j DROP`), lines.join("\n"));
      ok(lines.includes(`-A FORWARD -j ${prefix}-FWD`));
      ok(lines.includes(`-A POSTROUTING -j ${prefix}-POST`));
      // The nft backend is not in use: no table of this daemon.
      assertEquals(nftTable("ip", `${nftTableName(d.root)}_net`), undefined, "no nft table");
    });

    await t.step("a dual-stack network is isolated over IPv6 too, with ip6tables", () => {
      const lines = ours(prefix, "ip6tables-save");
      ok(lines.includes(`-A FORWARD -j ${prefix}-FWD`), lines.join("\n"));
      ok(lines.includes(`-A ${prefix}-FWD -i ${brS} -o ${brA} -j DROP`), lines.join("\n"));
      ok(lines.includes(`-A ${prefix}-FWD -i ${brI} ! -o ${brI} -j DROP`), lines.join("\n"));
      ok(!lines.some((l) => l.includes("nat") || l.includes("MASQUERADE")), "no NAT66");
    });

    const p1 = freePort();
    const p2 = freePort();
    const { ip: webIp } = await runWebServer(d, {
      name: web,
      hostname: "webbox",
      network: netA,
      publish: [`127.0.0.1:${p1}:80`, `${a.Gateway}:${p2}:80`],
    });
    const fetchFrom = (net: string) => fetchFromContainer(d, net, a.Gateway, p2);

    await t.step("a published TCP port answers on 127.0.0.1", async () => {
      assertEquals(await fetchText(`http://127.0.0.1:${p1}/hostname`), "webbox\n");
      const lines = ours(prefix);
      ok(
        lines.includes(
          `-A ${prefix}-DNAT -d 127.0.0.1/32 -p tcp -m tcp --dport ${p1} -j DNAT --to-destination ${webIp}:80`,
        ),
        lines.join("\n"),
      );
      const localnet = Deno.readTextFileSync(`/proc/sys/net/ipv4/conf/${brA}/route_localnet`);
      assertEquals(localnet.trim(), "1");
    });

    await t.step("hairpin: containers on the same and on another network reach it", async () => {
      const same = await fetchFrom(netA);
      assertEquals(same.stdout.trim(), "webbox", same.stderr);
      const other = await fetchFrom(netC);
      assertEquals(other.stdout.trim(), "webbox", other.stderr);
    });

    await t.step("the same host port cannot be published twice", async () => {
      const r = await d.cli([
        "run",
        "-d",
        "--name",
        `idup-${tag}`,
        "--network",
        netA,
        "-p",
        `127.0.0.1:${p1}:80`,
        "busybox",
        "sleep",
        "30",
      ]);
      ok(r.code !== 0 && /already allocated/.test(r.stderr), r.stderr);
      await d.cli(["rm", "-f", `idup-${tag}`]);
    });

    await t.step("a published UDP port delivers datagrams sent to 127.0.0.1", async () => {
      const up = freePort();
      const id = await udpReachesContainer(d, netA, up);
      await d.ok(["rm", "-f", id]);
      ok(!ours(prefix).some((l) => l.includes(`--dport ${up} `)), "its mapping went with it");
    });

    await t.step("two networks are isolated", async () => {
      const ping = (net: string) => pingFrom(d, net, webIp);
      const same = await ping(netA);
      assertEquals(same.code, 0, same.stdout + same.stderr);
      const other = await ping(netC);
      ok(other.code !== 0, `ping across networks must fail:\n${other.stdout}`);
    });

    await t.step(
      "a firewall rule blocks the port within the network; removing it restores",
      async () => {
        const probe = () => runOn(d, netA, ncGet(webIp, 80));
        const r = await api(d, "POST", `/networks/${netA}/rules`, {
          direction: "ingress",
          action: "deny",
          protocol: "tcp",
          port: 80,
          container: web,
        });
        if (!bridgedTrafficFiltered()) {
          // This host does not pass bridged traffic to iptables: refused, nothing stored.
          assertEquals(r.status, 409, JSON.stringify(r.json));
          assertEquals((await api(d, "GET", `/networks/${netA}/rules`)).json, []);
          return;
        }
        assertEquals(r.status, 201, JSON.stringify(r.json));
        ok(
          ours(prefix).includes(
            `-A ${prefix}-FW -d ${webIp}/32 -p tcp -m tcp --dport 80 -j DROP`,
          ),
        );
        assertEquals((await probe()).stdout.trim(), "");
        assertEquals(
          (await api(d, "DELETE", `/networks/${netA}/rules/${r.json.Id}`)).status,
          204,
        );
        assertEquals((await probe()).stdout.trim(), "webbox");
      },
    );

    await t.step(
      "kill -9 and restart: chains rebuilt, ports still work, no duplicates",
      async () => {
        const before = ours(prefix).sort();
        await d.stop("SIGKILL");
        // As if a crash had left a second jump: the new daemon must leave exactly one.
        new Deno.Command("iptables", { args: ["-A", "FORWARD", "-j", `${prefix}-FWD`] })
          .outputSync();
        await d.start();
        assertEquals(await fetchText(`http://127.0.0.1:${p1}/hostname`), "webbox\n");
        const after = ours(prefix).sort();
        assertEquals(after, before);
        for (const j of ["PREROUTING", "OUTPUT", "POSTROUTING", "FORWARD"]) {
          assertEquals(after.filter((l) => l.startsWith(`-A ${j} `)).length, 1, j);
        }
        const hairpin = await fetchFrom(netA);
        assertEquals(hairpin.stdout.trim(), "webbox", hairpin.stderr);
      },
    );

    await t.step(
      "a restart with another backend moves the rules there, ports still work",
      async () => {
        const nftTables = () =>
          (["ip", "bridge"] as const).flatMap((fam) =>
            [nftTableName(d.root), `${nftTableName(d.root)}_net`].filter((t) =>
              nftTable(fam, t) !== undefined
            )
          );
        const args = d.net.args!;
        args.splice(0, args.length, "--firewall-backend", "nft");
        await d.restart();
        assertEquals(ours(prefix), []);
        ok(nftTables().length > 0, "nft tables");
        assertEquals(await fetchText(`http://127.0.0.1:${p1}/hostname`), "webbox\n");
        args.splice(0, args.length, "--firewall-backend", "iptables");
        await d.restart();
        assertEquals(nftTables(), []);
        ok(ours(prefix).length > 0);
        assertEquals(await fetchText(`http://127.0.0.1:${p1}/hostname`), "webbox\n");
      },
    );

    await t.step("rm, network rm and daemon stop leave nothing with our prefix", async () => {
      await d.ok(["rm", "-f", web]);
      ok(!ours(prefix).some((l) => l.includes("DNAT --to")), ours(prefix).join("\n"));
      await d.ok(["network", "rm", netA, netC, netI, netS]);
      assertEquals(ours(prefix), []);
      assertEquals(ours(prefix, "ip6tables-save"), []);
      await d.stop();
      assertEquals(ours(prefix), []);
    });
  },
  { args: ["--firewall-backend", "iptables"] },
);

daemonTest(
  "--firewall-backend proxy: ports relayed by the daemon, no kernel rules, firewall refused",
  async (d) => {
    const prefix = iptablesPrefix(nftTableName(d.root));
    const net = `pzt-ip-${tag}`;
    await using nets = new TestNetworks(d);
    nets.removeLater(`pweb-${tag}`);
    await nets.create(net);
    const p = freePort();
    await runWebServer(d, {
      name: `pweb-${tag}`,
      hostname: "proxybox",
      network: net,
      publish: [`127.0.0.1:${p}:80`],
    });
    assertEquals(await fetchText(`http://127.0.0.1:${p}/hostname`), "proxybox\n");
    assertEquals(ours(prefix), []);
    assertEquals(nftTable("ip", nftTableName(d.root)), undefined, "no nft table");
    const rule = await api(d, "POST", `/networks/${net}/rules`, {
      direction: "ingress",
      action: "deny",
    });
    assertEquals(rule.status, 409, JSON.stringify(rule.json));
    ok(
      /need the nft or iptables backend/.test(rule.json.error.message),
      JSON.stringify(rule.json),
    );
    const create = await api(d, "POST", "/containers", {
      image: "busybox",
      networkMode: net,
      firewall: [{ direction: "egress", action: "deny" }],
      cmd: ["true"],
    });
    assertEquals(create.status, 409, JSON.stringify(create.json));
  },
  { args: ["--firewall-backend", "proxy"] },
);
