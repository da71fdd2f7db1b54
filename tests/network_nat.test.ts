/**
 * Isolation and outbound NAT in the daemon's own nftables table: containers on two ordinary
 * networks cannot reach each other even though their bridges route (per-bridge forwarding is
 * on), a non-internal subnet is masqueraded and an internal one is not, and the table goes
 * with the last network. Traffic goes only to container addresses on networks made here.
 */

import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import { Rtnl } from "../ffi/mod.ts";
import { nftTableName } from "../src/network/mod.ts";
import { daemonTest } from "./helpers/fixture.ts";

const tag = crypto.randomUUID().slice(0, 6);

function listTable(name: string): string | undefined {
  const out = new Deno.Command("nft", { args: ["list", "table", "ip", name], stderr: "null" })
    .outputSync();
  return out.success ? new TextDecoder().decode(out.stdout) : undefined;
}

daemonTest(
  "networks are isolated in nftables and non-internal ones are masqueraded",
  async (d, t) => {
    const netA = `pzt-na-${tag}`;
    const netC = `pzt-nc-${tag}`;
    const netI = `pzt-ni-${tag}`;
    const table = `${nftTableName(d.root)}_net`;
    const bridges: string[] = [];
    try {
      for (const [n, flags] of [[netA, []], [netC, []], [netI, ["--internal"]]] as const) {
        const id = (await d.ok(["network", "create", ...flags, n])).trim();
        bridges.push(`pbr-${id.slice(0, 11)}`);
      }
      const subnet = async (n: string) =>
        JSON.parse(await d.ok(["network", "inspect", n]))[0].IPAM.Config[0].Subnet as string;
      const [sA, sC, sI] = [await subnet(netA), await subnet(netC), await subnet(netI)];

      await t.step("the table masquerades non-internal subnets only", () => {
        const text = listTable(table);
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

      const a1 = (await d.ok([
        "run",
        "-d",
        "--name",
        `na1-${tag}`,
        "--network",
        netA,
        "busybox",
        "sleep",
        "300",
      ])).trim();
      const ip1 = JSON.parse(
        await d.ok(["inspect", "-f", "{{json .NetworkSettings.Networks}}", a1]),
      )[netA].IPAddress as string;

      await t.step("a container on another routed network cannot reach them", async () => {
        const same = await d.cli([
          "run",
          "--rm",
          "--network",
          netA,
          "busybox",
          "ping",
          "-c1",
          "-W2",
          ip1,
        ]);
        assertEquals(same.code, 0, same.stdout + same.stderr);
        const other = await d.cli([
          "run",
          "--rm",
          "--network",
          netC,
          "busybox",
          "ping",
          "-c1",
          "-W1",
          ip1,
        ]);
        ok(other.code !== 0, `ping across networks must fail:\n${other.stdout}${other.stderr}`);
      });

      await t.step("rm and network rm remove the rules, then the table", async () => {
        await d.ok(["rm", "-f", a1]);
        await d.ok(["network", "rm", netA]);
        const text = listTable(table) ?? "";
        ok(!text.includes(sA), text);
        await d.ok(["network", "rm", netC, netI]);
        assertEquals(listTable(table), undefined);
      });
    } finally {
      await d.cli(["rm", "-f", `na1-${tag}`]).catch(() => {});
      await d.cli(["network", "rm", netA, netC, netI]).catch(() => {});
      using nl = new Rtnl();
      for (const b of bridges) nl.deleteLinkIfExists(b);
      if (listTable(table) !== undefined) {
        new Deno.Command("nft", { args: ["delete", "table", "ip", table] }).outputSync();
      }
    }
  },
);
