/**
 * Isolation and outbound NAT in the daemon's own nftables table: containers on two ordinary
 * networks cannot reach each other even though their bridges route (per-bridge forwarding is
 * on), a non-internal subnet is masqueraded and an internal one is not, and the table goes
 * with the last network. Traffic goes only to container addresses on networks made here.
 */

import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import { nftTableName } from "../src/network/mod.ts";
import { daemonTest } from "./helpers/fixture.ts";
import {
  deleteNftTable,
  ipamOf,
  nftTable,
  pingFrom,
  runSleeper,
  TestNetworks,
  uniqueTag,
} from "./helpers/network.ts";

const tag = uniqueTag();

daemonTest(
  "networks are isolated in nftables and non-internal ones are masqueraded",
  async (d, t) => {
    const netA = `pzt-na-${tag}`;
    const netC = `pzt-nc-${tag}`;
    const netI = `pzt-ni-${tag}`;
    const table = `${nftTableName(d.root)}_net`;
    // Disposed last, after the networks: the table goes with the last one, or here.
    using _table = { [Symbol.dispose]: () => deleteNftTable("ip", table) };
    await using nets = new TestNetworks(d);
    const bridges = nets.bridges;
    nets.removeLater(`na1-${tag}`);
    for (const [n, flags] of [[netA, []], [netC, []], [netI, ["--internal"]]] as const) {
      await nets.create(n, flags);
    }
    const subnet = async (n: string) => (await ipamOf(d, n)).Subnet;
    const [sA, sC, sI] = [await subnet(netA), await subnet(netC), await subnet(netI)];

    await t.step("the table masquerades non-internal subnets only", () => {
      const text = nftTable("ip", table);
      ok(text, `table ip ${table} exists`);
      ok(text.includes(`ip saddr ${sA} oifname != "${bridges[0]}" masquerade`), text);
      ok(text.includes(`ip saddr ${sC} oifname != "${bridges[1]}" masquerade`), text);
      ok(!text.includes(sI), `no NAT for the internal network:\n${text}`);
      ok(text.includes(`iifname "${bridges[2]}" oifname != "${bridges[2]}" drop`), text);
      for (const b of bridges.slice(0, 2)) {
        const fwd = Deno.readTextFileSync(`/proc/sys/net/ipv4/conf/${b}/forwarding`).trim();
        assertEquals(fwd, "1", `forwarding on ${b}`);
      }
    });

    const { id: a1, ip: ip1 } = await runSleeper(d, { name: `na1-${tag}`, network: netA });

    await t.step("a container on another routed network cannot reach them", async () => {
      const same = await pingFrom(d, netA, ip1, 2);
      assertEquals(same.code, 0, same.stdout + same.stderr);
      const other = await pingFrom(d, netC, ip1);
      ok(other.code !== 0, `ping across networks must fail:\n${other.stdout}${other.stderr}`);
    });

    await t.step("rm and network rm remove the rules, then the table", async () => {
      await d.ok(["rm", "-f", a1]);
      await d.ok(["network", "rm", netA]);
      const text = nftTable("ip", table) ?? "";
      ok(!text.includes(sA), text);
      await d.ok(["network", "rm", netC, netI]);
      assertEquals(nftTable("ip", table), undefined);
    });
  },
);
