/**
 * Firewall rules on a dual-stack network (`network create --ipv6`) filter IPv6 as well as
 * IPv4, with the nft backend and with `--firewall-backend iptables` (ip6tables): a deny egress
 * rule without a CIDR on a running container blocks its TCP to a peer's httpd over both
 * families at once and removing it restores both; a rule with an IPv6 CIDR blocks IPv6 to it
 * and leaves IPv4 alone; a network's port rule holds for both families; `run --firewall`
 * takes IPv6 CIDRs; a denied egress holds for link-local IPv6 as well, on IPv4-only networks
 * too; bad IPv6 CIDRs are one-line errors; nothing of ours is left in nftables or
 * ip6tables after rm and network rm. Each run uses a random ULA /64 and a test-unique IPv4
 * /24; traffic goes only to containers on the network made here.
 */

import { deepStrictEqual as assertEquals, match, ok } from "node:assert/strict";
import { Rtnl } from "../ffi/mod.ts";
import {
  bridgedTrafficFiltered,
  iptablesAvailable,
  iptablesPrefix,
  nftTableName,
} from "../src/network/mod.ts";
import { allocTestBridge, isRoot, TestDaemon } from "./helpers/daemon.ts";
import { busyboxImages } from "./helpers/image.ts";

const tag = crypto.randomUUID().slice(0, 6);
const hex4 = () => Math.floor(Math.random() * 0x10000).toString(16);
/** A random ULA /64 prefix (without "/64"), e.g. "fd3a:12:beef:7::". */
const ula = () =>
  `fd${
    Math.floor(Math.random() * 256).toString(16).padStart(2, "0")
  }:${hex4()}:${hex4()}:${hex4()}::`;

function text(cmd: string, args: string[]): { ok: boolean; out: string } {
  const o = new Deno.Command(cmd, { args, stdout: "piped", stderr: "null" }).outputSync();
  return { ok: o.success, out: new TextDecoder().decode(o.stdout) };
}

/** The lines of `<tool>-save` naming our chains. */
function ours(prefix: string, tool: string): string[] {
  return text(tool, []).out.split("\n").filter((l) => l.includes(`${prefix}-`));
}

/** A busybox httpd serving /etc (so /hostname), after printing its link-local address. */
const httpd = [
  "--hostname",
  "fw6srv",
  "busybox",
  "sh",
  "-c",
  "ip -6 addr show dev eth0 scope link; exec httpd -f -p 80 -h /etc",
];

/**
 * A container on `net` reaches `server`'s httpd at its IPv6 link-local address, and one whose
 * egress is denied (all, or TCP port 80) does not.
 */
async function linkLocalBlocked(d: TestDaemon, net: string, server: string): Promise<void> {
  let ll: string | undefined;
  for (let i = 0; i < 50 && !ll; i++) {
    ll = /inet6 (fe80::[0-9a-f:]+)\//.exec(await d.ok(["logs", server]))?.[1];
    if (!ll) await new Promise((r) => setTimeout(r, 100));
  }
  ok(ll, "the server has a link-local address");
  // Waits out duplicate address detection of its own link-local address first.
  const get = (tries: number) =>
    `while ip -6 addr show dev eth0 | grep -q tentative; do sleep 0.2; done; ` +
    `for i in $(seq ${tries}); do ` +
    `printf "GET /hostname HTTP/1.0\\r\\n\\r\\n" | nc -w 1 ${ll}%eth0 80 | ` +
    `grep -q fw6srv && echo reach && exit; sleep 0.5; done; echo blocked`;
  const run = (tries: number, ...flags: string[]) =>
    d.ok(["run", "--rm", "--network", net, ...flags, "busybox", "sh", "-c", get(tries)]);
  assertEquals((await run(10)).trim(), "reach", "the probe itself works");
  assertEquals((await run(1, "--firewall", "egress,deny")).trim(), "blocked");
  assertEquals((await run(1, "--firewall", "egress,deny,proto=tcp,port=80")).trim(), "blocked");
}

/**
 * The whole scenario against daemon `d` (started, busybox loaded). `kernel` says where the
 * IPv6 firewall rules of the running client must show up, for a check that they are really
 * there (and not only enforced by something else).
 */
async function scenario(
  d: TestDaemon,
  t: Deno.TestContext,
  v6Rules: () => string,
  k: string,
): Promise<void> {
  const net = `pzt-f6${k}-${tag}`;
  const server = `f6s${k}-${tag}`;
  const client = `f6c${k}-${tag}`;
  const pre = ula();
  const v4 = allocTestBridge();
  let bridge = "";
  try {
    bridge = `pbr-${
      (await d.ok([
        "network",
        "create",
        "--ipv6",
        "--subnet",
        v4.subnet,
        "--subnet",
        `${pre}/64`,
        net,
      ])).trim().slice(0, 11)
    }`;
    const sid = (await d.ok([
      "run",
      "-d",
      "--name",
      server,
      "--network",
      net,
      ...httpd,
    ])).trim();
    const ep = JSON.parse(
      await d.ok(["inspect", "-f", "{{json .NetworkSettings.Networks}}", sid]),
    )[net];
    const ip4 = ep.IPAddress as string;
    const ip6 = ep.GlobalIPv6Address as string;
    ok(ip6.startsWith(pre), ip6);
    // One probe line per family: "v4:reach v6:blocked".
    const probe = ["4", "6"].map((f) =>
      `if printf "GET /hostname HTTP/1.0\\r\\n\\r\\n" | nc -w 1 ${f === "4" ? ip4 : ip6} 80 | ` +
      `grep -q fw6srv; then printf "v${f}:reach"; else printf "v${f}:blocked"; fi`
    ).join('; printf " "; ') + "; echo";
    const cid = (await d.ok([
      "run",
      "-d",
      "--name",
      client,
      "--network",
      net,
      "busybox",
      "sh",
      "-c",
      `while :; do ${probe}; sleep 0.3; done`,
    ])).trim();
    const clientIp6 = JSON.parse(
      await d.ok(["inspect", "-f", "{{json .NetworkSettings.Networks}}", cid]),
    )[net].GlobalIPv6Address as string;
    const sees = async (want: string) => {
      let last = "";
      for (let i = 0; i < 60; i++) {
        // Two lines in a row: one probe may have started before the change.
        const lines = (await d.ok(["logs", client])).trim().split("\n").slice(-2);
        last = lines.join(",");
        if (
          lines.length === 2 && lines.every((l) =>
            l === want
          )
        ) return;
        await new Promise((r) => setTimeout(r, 250));
      }
      throw new Error(`the client never saw "${want}" (last: ${last})`);
    };
    await sees("v4:reach v6:reach");

    const add = async (...flags: string[]) =>
      (await d.ok(["container", "firewall", "add", client, ...flags])).trim();

    await t.step(
      "a deny egress rule without CIDR blocks IPv4 and IPv6; rm restores both",
      async () => {
        const id = await add("--direction", "egress", "--action", "deny");
        await sees("v4:blocked v6:blocked");
        ok(v6Rules().includes(clientIp6), `the client's IPv6 rule is in the kernel:\n${v6Rules()}`);
        await d.ok(["container", "firewall", "rm", client, id]);
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
        const v4only = allocTestBridge();
        const net4 = `pzt-f4${k}-${tag}`;
        const server4 = `f4s${k}-${tag}`;
        let bridge4 = "";
        try {
          bridge4 = `pbr-${
            (await d.ok(["network", "create", "--subnet", v4only.subnet, net4])).trim().slice(0, 11)
          }`;
          await d.ok(["run", "-d", "--name", server4, "--network", net4, ...httpd]);
          await linkLocalBlocked(d, net4, server4);
        } finally {
          await d.cli(["rm", "-f", server4]).catch(() => {});
          await d.cli(["network", "rm", net4]).catch(() => {});
          if (bridge4) {
            using nl = new Rtnl();
            nl.deleteLinkIfExists(bridge4);
          }
          v4only.release();
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
      await d.ok(["container", "firewall", "rm", client, id]);
      await sees("v4:reach v6:reach");
      // And an IPv4 CIDR leaves IPv6 alone.
      const id4 = await add("--direction", "egress", "--action", "deny", "--cidr", `${ip4}/32`);
      await sees("v4:blocked v6:reach");
      await d.ok(["container", "firewall", "rm", client, id4]);
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
      const out = await d.ok([
        "run",
        "--rm",
        "--network",
        net,
        "--firewall",
        `egress,deny,cidr=${ip6}/128,proto=tcp,port=80`,
        "busybox",
        "sh",
        "-c",
        `${probe}; ping -6 -c1 -W3 ${ip6} >/dev/null && echo ping6-ok`,
      ]);
      assertEquals(out.trim().split("\n"), ["v4:reach v6:blocked", "ping6-ok"]);
    });

    await t.step("bad IPv6 CIDRs are one-line errors and add nothing", async () => {
      for (
        const [cidr, msg] of [
          [`${pre}1/64`, /host bits are set \(did you mean .*\/64\?\)/],
          [`${pre}/129`, /for "--cidr" flag/],
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
    await d.cli(["rm", "-f", client, server]).catch(() => {});
    await d.cli(["network", "rm", net]).catch(() => {});
    if (bridge) {
      using nl = new Rtnl();
      nl.deleteLinkIfExists(bridge);
    }
    v4.release();
  }
}

Deno.test({
  name: "nft: firewall rules filter IPv6 as well as IPv4 on a dual-stack network",
  ignore: !isRoot || !text("nft", ["--version"]).ok,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const d = new TestDaemon("fw6nft", undefined, { args: ["--firewall-backend", "nft"] });
    const table = `${nftTableName(d.root)}_net`;
    // What our tables hold of IPv6 (empty once they are gone).
    const v6Rules = () =>
      ["ip6", "bridge"].map((f) => text("nft", ["list", "table", f, table]).out)
        .join("").split("\n").filter((l) => /ip6 [sd]addr|icmpv6/.test(l)).join("\n");
    try {
      await d.start();
      await d.ok(["load", "-i", (await busyboxImages()).dockerArchive]);
      await scenario(d, t, v6Rules, "n");
      for (const fam of ["ip", "ip6", "bridge"]) {
        ok(!text("nft", ["list", "table", fam, table]).ok, `table ${fam} ${table} is gone`);
      }
    } catch (e) {
      console.error(d.daemonLog().slice(-4000));
      throw e;
    } finally {
      await d.cleanup();
      for (const fam of ["ip", "ip6", "bridge"]) text("nft", ["delete", "table", fam, table]);
    }
  },
});

Deno.test({
  name: "iptables: firewall rules filter IPv6 as well as IPv4 on a dual-stack network",
  ignore: !isRoot || !iptablesAvailable() || !bridgedTrafficFiltered(6) ||
    !text("ip6tables-save", ["--version"]).ok,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const d = new TestDaemon("fw6ipt", undefined, { args: ["--firewall-backend", "iptables"] });
    const prefix = iptablesPrefix(nftTableName(d.root));
    const v6Rules = () =>
      ours(prefix, "ip6tables-save").filter((l) => / -[sd] /.test(l)).join("\n");
    try {
      await d.start();
      await d.ok(["load", "-i", (await busyboxImages()).dockerArchive]);
      await scenario(d, t, v6Rules, "i");
      assertEquals(ours(prefix, "ip6tables-save"), []);
      assertEquals(ours(prefix, "iptables-save"), []);
    } catch (e) {
      console.error(d.daemonLog().slice(-4000));
      throw e;
    } finally {
      await d.cleanup();
    }
  },
});
