/**
 * Dual-stack user networks (`network create --ipv6`): containers get an IPv6 address and
 * default route, reach each other over IPv6 by address and by name (AAAA from the embedded
 * DNS), a container on another IPv6 network cannot reach them (nft `ip6` table), inspect shows
 * the IPv6 fields, bad input is refused whole, and nothing IPv6 is left on the host after rm.
 * Each run uses random ULA /64s; traffic goes only to containers on networks made here.
 */

import { deepStrictEqual as assertEquals, match, ok } from "node:assert/strict";
import { AF_INET6, Rtnl } from "../ffi/mod.ts";
import { daemonTest } from "./helpers/fixture.ts";
import {
  api,
  endpoints,
  inspectNetwork,
  nftRuleset,
  runOn,
  runOnOk,
  runSleeper,
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

daemonTest("dual-stack networks: IPv6 addresses, routes, names, isolation", async (d, t) => {
  const netA = `pzt-6a-${tag}`;
  const netB = `pzt-6b-${tag}`;
  const netC = `pzt-6c-${tag}`;
  const preA = ula(), preB = ula();
  const name = `v6s-${tag}`;
  const subnets6: string[] = [];
  await using nets = new TestNetworks(d);
  const bridges = nets.bridges;
  nets.removeLater(name);
  for (
    const [n, args] of [
      [netA, ["--subnet", `${preA}/64`]],
      [netB, ["--subnet", `${preB}/64`, "--gateway", `${preB}fe`]],
      [netC, []],
    ] as const
  ) {
    await nets.create(n, ["--ipv6", ...args]);
  }
  const { id: id1, endpoint: ep } = await runSleeper(d, { name, network: netA });
  const ip6 = ep.GlobalIPv6Address;

  await t.step("inspect shows the IPv6 address, prefix, gateway and both subnets", async () => {
    ok(ip6.startsWith(preA) && ip6 !== `${preA}1`, ip6);
    assertEquals([ep.GlobalIPv6PrefixLen, ep.IPv6Gateway], [64, `${preA}1`]);
    match(ep.IPAddress, /^\d+\.\d+\.\d+\.\d+$/);
    const a = await inspectNetwork(d, netA);
    assertEquals(a.EnableIPv6, true);
    assertEquals(a.IPAM.Config.length, 2);
    assertEquals(a.IPAM.Config[1], { Subnet: `${preA}/64`, Gateway: `${preA}1` });
    assertEquals(a.Containers[id1].IPv6Address, `${ip6}/64`);
    const b = await inspectNetwork(d, netB);
    assertEquals(b.IPAM.Config[1], { Subnet: `${preB}/64`, Gateway: `${preB}fe` });
    const c = await inspectNetwork(d, netC);
    match(c.IPAM.Config[1].Subnet, /^fd70:6f6c:6973:[0-9a-f]*:?:\/64$/);
    match(c.IPAM.Config[0].Subnet, /^\d+\.\d+\.\d+\.0\/24$/, "an IPv4 subnet as always");
    for (const n of [a, b, c]) subnets6.push(n.IPAM.Config[1].Subnet);
  });

  await t.step("containers reach each other over IPv6 by address and by name", async () => {
    const fixed = `${preA}99`;
    const out = await runOnOk(
      d,
      netA,
      `ping -6 -c1 -W3 ${ip6} >/dev/null && echo addr-ok; ` +
        `ping -6 -c1 -W3 ${name} >/dev/null && echo name-ok; ` +
        `nslookup -type=AAAA ${name}; ip -6 addr show dev eth0; ip -6 route; cat /etc/hosts`,
      ["--ip6", fixed],
    );
    ok(out.includes("addr-ok"), out);
    ok(out.includes("name-ok"), out);
    ok(out.includes(ip6), `AAAA answer names ${ip6}:\n${out}`);
    match(out, new RegExp(`inet6 ${fixed.replaceAll(".", "\\.")}/64 scope global`));
    ok(!/tentative/.test(out), `usable at once:\n${out}`);
    match(out, new RegExp(`^default via ${preA}1 dev eth0`, "m"));
    match(out, new RegExp(`^${fixed}\\t`, "m"), "its own IPv6 address in /etc/hosts");
  });

  await t.step("a container on another IPv6 network cannot reach them", async () => {
    const r = await runOn(
      d,
      netB,
      `ping -6 -c1 -W2 ${ip6} && echo reached; nslookup -type=AAAA ${name} && echo resolved; true`,
    );
    ok(!r.stdout.includes("reached"), r.stdout);
    ok(!r.stdout.includes("resolved"), r.stdout);
    // And if the host forwarded IPv6, the ip6 table would drop it.
    const rules = nftRuleset("ip6");
    const [ba, bb] = bridges;
    ok(
      rules.split("\n").some((l) =>
        l.includes(`iifname "${bb}"`) && l.includes(`"${ba}"`) && l.includes("drop")
      ),
      rules,
    );
  });

  await t.step("50 parallel creates get distinct IPv6 addresses, released on rm", async () => {
    const results = await Promise.all(
      Array.from(
        { length: 50 },
        () => api(d, "POST", "/containers", { image: "busybox", networkMode: netA, cmd: ["true"] }),
      ),
    );
    const ids = results.map((r) => {
      assertEquals(r.status, 201, JSON.stringify(r.json));
      return r.json.Id as string;
    });
    const info = await api(d, "GET", `/networks/${netA}`);
    const addrs = Object.values(info.json.Containers).map((c) =>
      (c as { IPv6Address: string }).IPv6Address
    );
    assertEquals(addrs.length, 51);
    assertEquals(new Set(addrs).size, 51);
    ok(addrs.every((a) => a.startsWith(preA) && a.endsWith("/64")), addrs.join(" "));
    ok(!addrs.includes(`${preA}1/64`), "the gateway is never handed out");
    await Promise.all(ids.map((id) => api(d, "DELETE", `/containers/${id}?force=1`)));
    const after = await api(d, "GET", `/networks/${netA}`);
    assertEquals(Object.keys(after.json.Containers), [id1]);
  });

  await t.step("after a daemon restart the bridge and names still work over IPv6", async () => {
    await d.restart();
    const out = await runOnOk(d, netA, `ping -6 -c1 -W3 ${name} >/dev/null && echo name-ok`);
    assertEquals(out.trim(), "name-ok");
  });

  await t.step(
    "network connect --ip6 gives a running container a fixed IPv6 address",
    async () => {
      const preC = subnets6[2].replace(/\/64$/, "");
      await d.ok(["network", "connect", "--ip6", `${preC}42`, netC, name]);
      const n = await endpoints(d, id1);
      assertEquals(n[netC].GlobalIPv6Address, `${preC}42`);
      const out = await runOnOk(
        d,
        netC,
        `ping -6 -c1 -W3 ${preC}42 >/dev/null && echo connected-ok`,
      );
      assertEquals(out.trim(), "connected-ok");
      const taken = await d.cli(["network", "connect", "--ip6", `${preA}2`, netB, name]);
      match(taken.stderr, /not a usable address of network/);
      await d.ok(["network", "disconnect", netC, name]);
    },
  );

  await t.step("bad input is refused in one line and makes nothing", async () => {
    const before = (await d.ok(["network", "ls", "-q"])).trim().split("\n").length;
    const bad = `pzt-6x-${tag}`;
    for (
      const [args, want] of [
        [["--ipv6", "--subnet", "10.99.77.0/24"], /needs an IPv6 --subnet too/],
        [["--ipv6", "--subnet", "fd12:zz::/64"], /invalid subnet "fd12:zz::\/64"/],
        [["--ipv6", "--subnet", `${preA}1/64`], /host bits are set/],
        [
          ["--ipv6", "--subnet", `${preA.split(":").slice(0, 3).join(":")}::/48`],
          /overlaps network/,
        ],
        [["--subnet", `${ula()}/64`], /without --ipv6/],
        [["--ipv6", "--gateway", `${ula()}1`], /needs an IPv6 --subnet/],
      ] as const
    ) {
      const r = await d.cli(["network", "create", ...args, bad]);
      ok(r.code !== 0, `${args.join(" ")} must fail`);
      match(r.stderr, want);
      assertEquals(r.stderr.trim().split("\n").length, 1, r.stderr);
    }
    const ip6Bad = await d.cli(["create", "--network", netA, "--ip6", `${preB}5`, "busybox"]);
    match(ip6Bad.stderr, /not a usable address of network/);
    const ip6Gw = await d.cli(["create", "--network", netA, "--ip6", `${preA}1`, "busybox"]);
    match(ip6Gw.stderr, /is the gateway/);
    const ip6Def = await d.cli(["create", "--ip6", `${preA}5`, "busybox"]);
    ok(ip6Def.code !== 0, ip6Def.stderr);
    assertEquals((await d.ok(["network", "ls", "-q"])).trim().split("\n").length, before);
    assertEquals((await d.ok(["ps", "-aq"])).trim().split("\n").length, 1, "only the server");
  });

  await t.step("after rm and network rm nothing IPv6 is left on the host", async () => {
    await d.ok(["rm", "-f", id1]);
    await d.ok(["network", "rm", netA, netB, netC]);
    using nl = new Rtnl();
    for (const b of bridges) assertEquals(nl.findLink(b), undefined);
    const pre = subnets6.map((s) => s.replace(/::\/64$/, ":"));
    const addrs = nl.listAddresses(AF_INET6).filter((a) =>
      pre.some((p) => a.address.startsWith(p))
    );
    assertEquals(addrs, []);
    const routes = nl.listRoutes({ family: AF_INET6, table: 0 }).filter((r) =>
      pre.some((p) => r.dst.startsWith(p) || r.gateway?.startsWith(p))
    );
    assertEquals(routes, []);
    const rules = nftRuleset("ip6");
    for (const b of bridges) ok(!rules.includes(`"${b}"`), `no ip6 rule left for ${b}`);
  });
});
