/**
 * Firewall rules on a dual-stack network (`network create --ipv6`) filter IPv6 as well as
 * IPv4, with the nft backend and with `--firewall-backend iptables` (ip6tables): a deny egress
 * rule without a CIDR on a running container blocks its TCP to a peer's httpd over both
 * families at once and removing it restores both; a rule with an IPv6 CIDR blocks IPv6 to it
 * and leaves IPv4 alone (and an IPv4 CIDR the reverse); a network's port rule holds for both
 * families; `run --firewall` takes IPv6 CIDRs; a denied egress holds for link-local IPv6 as
 * well, on IPv4-only networks too; bad IPv6 CIDRs are one-line errors; nothing of ours is left
 * in nftables or ip6tables after rm and network rm. Each run uses a random ULA /64 and
 * test-unique IPv4 /24s; traffic goes only to containers on the networks made here.
 */

import { deepStrictEqual as assertEquals, match, ok } from "node:assert/strict";
import {
  bridgedTrafficFiltered,
  iptablesAvailable,
  iptablesPrefix,
  nftTableName,
} from "../src/network/mod.ts";
import { allocTestBridge, type TestDaemon } from "./helpers/daemon.ts";
import { daemonTest } from "./helpers/fixture.ts";
import {
  deleteNftTable,
  iptablesLines,
  ncGet,
  nftTable,
  runDetached,
  runOnOk,
  TestNetworks,
  uniqueTag,
} from "./helpers/network.ts";

const tag = uniqueTag();
const hex4 = () => Math.floor(Math.random() * 0x10000).toString(16);
/** A random ULA /64 prefix (without "/64"), e.g. "fd3a:12:beef:7::". */
const ula = () =>
  `fd${
    Math.floor(Math.random() * 256).toString(16).padStart(2, "0")
  }:${hex4()}:${hex4()}:${hex4()}::`;

function toolWorks(cmd: string): boolean {
  try {
    return new Deno.Command(cmd, { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

/** A busybox httpd serving /etc (so /hostname), after printing its link-local address. */
const HTTPD = ["sh", "-c", "ip -6 addr show dev eth0 scope link; exec httpd -f -p 80 -h /etc"];

/** `GET /hostname` from `host` answered by the server ("fw6srv"), tried `tries` times. */
const reaches = (host: string, tries = 1) =>
  `for i in $(seq ${tries}); do ${ncGet(host, 80, "/hostname", 1)} | grep -q fw6srv && ` +
  `echo reach && exit; sleep 0.5; done; echo blocked`;

/**
 * A container on `net` reaches `server`'s httpd at its IPv6 link-local address, and one whose
 * egress is denied (all of it, or TCP port 80) does not.
 */
async function linkLocalBlocked(d: TestDaemon, net: string, server: string): Promise<void> {
  let ll: string | undefined;
  for (let i = 0; i < 50 && !ll; i++) {
    ll = /inet6 (fe80::[0-9a-f:]+)\//.exec(await d.ok(["logs", server]))?.[1];
    if (!ll) await new Promise((r) => setTimeout(r, 100));
  }
  ok(ll, "the server has a link-local address");
  // Waits out duplicate address detection of its own link-local address first.
  const probe = (tries: number) =>
    `while ip -6 addr show dev eth0 | grep -q tentative; do sleep 0.2; done; ` +
    reaches(`${ll}%eth0`, tries);
  assertEquals((await runOnOk(d, net, probe(10))).trim(), "reach", "the probe itself works");
  for (const rule of ["egress,deny", "egress,deny,proto=tcp,port=80"]) {
    assertEquals((await runOnOk(d, net, probe(1), ["--firewall", rule])).trim(), "blocked", rule);
  }
}

/**
 * The whole scenario against daemon `d`; `v6Rules` lists what the kernel holds of our IPv6
 * firewall rules (empty when there is none), `k` tells the backends' names apart.
 */
async function scenario(
  d: TestDaemon,
  t: Deno.TestContext,
  v6Rules: () => string,
  k: string,
): Promise<void> {
  await using nets = new TestNetworks(d);
  const net = `pzt-f6${k}-${tag}`;
  const server = `f6s${k}-${tag}`;
  const client = `f6c${k}-${tag}`;
  nets.removeLater(server, client);
  const pre = ula();
  const v4 = allocTestBridge();
  try {
    await nets.create(net, ["--ipv6", "--subnet", v4.subnet, "--subnet", `${pre}/64`]);
    const srv = await runDetached(d, { network: net, name: server, hostname: "fw6srv" }, HTTPD);
    const ip4 = srv.ip;
    const ip6 = srv.endpoint.GlobalIPv6Address;
    ok(ip6.startsWith(pre), ip6);
    // One line per probe round: "v4:reach v6:blocked".
    const probe = `printf "v4:"; (${reaches(ip4)}); printf "v6:"; (${reaches(ip6)})`;
    const cli = await runDetached(d, { network: net, name: client }, [
      "sh",
      "-c",
      `while :; do echo "$( (${probe}) | tr '\\n' ' ')"; sleep 0.3; done`,
    ]);
    const clientIp6 = cli.endpoint.GlobalIPv6Address;
    const sees = async (want: string) => {
      let last = "";
      for (let i = 0; i < 60; i++) {
        // Two lines in a row: one probe may have started before the change.
        const lines = (await d.ok(["logs", client])).trim().split("\n").slice(-2)
          .map((l) => l.trim());
        last = lines.join(",");
        if (lines.length === 2 && lines.every((l) => l === want)) return;
        await new Promise((r) => setTimeout(r, 250));
      }
      throw new Error(`the client never saw "${want}" (last: ${last})`);
    };
    await sees("v4:reach v6:reach");

    const add = async (...flags: string[]) =>
      (await d.ok(["container", "firewall", "add", client, ...flags])).trim();
    const rm = (id: string) => d.ok(["container", "firewall", "rm", client, id]);

    await t.step(
      "a deny egress rule without CIDR blocks IPv4 and IPv6; rm restores both",
      async () => {
        const id = await add("--direction", "egress", "--action", "deny");
        await sees("v4:blocked v6:blocked");
        ok(v6Rules().includes(clientIp6), `the client's IPv6 rule is in the kernel:\n${v6Rules()}`);
        await rm(id);
        await sees("v4:reach v6:reach");
        ok(!v6Rules().includes(clientIp6), v6Rules());
      },
    );

    await t.step("a deny egress rule blocks link-local IPv6 too", async () => {
      await linkLocalBlocked(d, net, server);
    });

    await t.step(
      "on an IPv4-only network too (every container has a link-local address)",
      async () => {
        const other = allocTestBridge();
        try {
          const net4 = `pzt-f4${k}-${tag}`;
          const server4 = `f4s${k}-${tag}`;
          nets.removeLater(server4);
          await nets.create(net4, ["--subnet", other.subnet]);
          await runDetached(d, { network: net4, name: server4, hostname: "fw6srv" }, HTTPD);
          await linkLocalBlocked(d, net4, server4);
          await d.ok(["rm", "-f", server4]);
          await d.ok(["network", "rm", net4]);
        } finally {
          other.release();
        }
      },
    );

    await t.step("a rule with an IPv6 CIDR blocks IPv6 to it, not IPv4", async () => {
      const id = await add("--direction", "egress", "--action", "deny", "--cidr", `${pre}/64`);
      await sees("v4:reach v6:blocked");
      const rules = JSON.parse(
        (await d.ok(["network", "firewall", "ls", "--format", "json", net])).trim(),
      );
      assertEquals(rules.CIDR, `${pre}/64`);
      await rm(id);
      await sees("v4:reach v6:reach");
      // And an IPv4 CIDR leaves IPv6 alone.
      const id4 = await add("--direction", "egress", "--action", "deny", "--cidr", `${ip4}/32`);
      await sees("v4:blocked v6:reach");
      await rm(id4);
      await sees("v4:reach v6:reach");
    });

    await t.step("a network's port rule holds for both families", async () => {
      const id = (await d.ok([
        "network",
        "firewall",
        "add",
        net,
        "--direction",
        "ingress",
        "--action",
        "deny",
        "--proto",
        "tcp",
        "--port",
        "80",
      ])).trim();
      await sees("v4:blocked v6:blocked");
      await d.ok(["network", "firewall", "rm", net, id]);
      await sees("v4:reach v6:reach");
    });

    await t.step("run --firewall takes an IPv6 CIDR; ping over IPv6 still passes", async () => {
      const out = await runOnOk(
        d,
        net,
        `${probe}; ping -6 -c1 -W3 ${ip6} >/dev/null && echo ping6-ok`,
        ["--firewall", `egress,deny,cidr=${ip6}/128,proto=tcp,port=80`],
      );
      assertEquals(out.trim().split("\n"), ["v4:reach", "v6:blocked", "ping6-ok"]);
    });

    await t.step("bad IPv6 CIDRs are one-line errors and add nothing", async () => {
      for (
        const [cidr, msg] of [
          [`${pre}1/64`, /invalid firewall CIDR .*host bits are set \(did you mean .*\/64\?\)/],
          [`${pre}/129`, /invalid argument ".*" for "--cidr" flag/],
          ["fd00:::1", /invalid firewall CIDR "fd00:::1"/],
        ] as const
      ) {
        const r = await d.cli([
          "network",
          "firewall",
          "add",
          net,
          "--direction",
          "egress",
          "--action",
          "deny",
          "--cidr",
          cidr,
        ]);
        ok(r.code !== 0, cidr);
        match(r.stderr.split("\n")[0], msg);
        assertEquals(r.stdout, "");
      }
      assertEquals(await d.ok(["network", "firewall", "ls", "-q", net]), "");
    });

    await t.step("rm and network rm leave no IPv6 rule of ours", async () => {
      await add("--direction", "egress", "--action", "deny", "--cidr", `${pre}/64`);
      ok(v6Rules().includes(pre.replace(/::$/, "")), v6Rules());
      await d.ok(["rm", "-f", client, server]);
      await d.ok(["network", "rm", net]);
      assertEquals(v6Rules(), "");
    });
  } finally {
    v4.release();
  }
}

daemonTest(
  "nft: firewall rules filter IPv6 as well as IPv4 on a dual-stack network",
  async (d, t) => {
    const table = `${nftTableName(d.root)}_net`;
    // What our tables hold of IPv6 (empty once they are gone).
    const v6Rules = () =>
      [nftTable("ip6", table), nftTable("bridge", table)].join("\n").split("\n")
        .filter((l) => /ip6 [sd]addr|icmpv6|protocol ip6/.test(l)).join("\n");
    try {
      await scenario(d, t, v6Rules, "n");
      for (const fam of ["ip", "ip6", "bridge"] as const) {
        ok(nftTable(fam, table) === undefined, `table ${fam} ${table} is gone`);
      }
    } finally {
      for (const fam of ["ip", "ip6", "bridge"] as const) deleteNftTable(fam, table);
    }
  },
  { args: ["--firewall-backend", "nft"] },
);

if (iptablesAvailable() && toolWorks("ip6tables-save") && bridgedTrafficFiltered(6)) {
  daemonTest(
    "iptables: firewall rules filter IPv6 as well as IPv4 on a dual-stack network",
    async (d, t) => {
      const prefix = iptablesPrefix(nftTableName(d.root));
      const v6Rules = () =>
        iptablesLines(prefix, "ip6tables-save").filter((l) => / -[sd] |physdev/.test(l))
          .join("\n");
      await scenario(d, t, v6Rules, "i");
      assertEquals(iptablesLines(prefix, "ip6tables-save"), []);
      assertEquals(iptablesLines(prefix, "iptables-save"), []);
    },
    { args: ["--firewall-backend", "iptables"] },
  );
}
