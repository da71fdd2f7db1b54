/**
 * `network connect|disconnect|prune` and `--network container:NAME`: a running container gets
 * a second interface on the network it joins (reachable and named there), loses it on
 * disconnect, its /etc/hosts and resolv.conf follow (seen from inside), prune removes only
 * unused networks, and a container can share another's network namespace. Traffic goes only
 * to container addresses on networks made here.
 */

import { deepStrictEqual as assertEquals, match, ok } from "node:assert/strict";
import { daemonTest } from "./helpers/fixture.ts";
import {
  endpoints,
  hostLinks,
  ipamOf,
  pingFrom,
  runDetached,
  runOnOk,
  runSleeper,
  TestNetworks,
  uniqueTag,
} from "./helpers/network.ts";

const tag = uniqueTag();

daemonTest("network connect, disconnect, prune and --network container:", async (d, t) => {
  const netA = `pzt-ca-${tag}`;
  const netB = `pzt-cb-${tag}`;
  const netU = `pzt-cu-${tag}`;
  const name = `cc1-${tag}`;
  await using nets = new TestNetworks(d);
  const bridges = nets.bridges;
  nets.removeLater(`ccw-${tag}-s`, `ccw-${tag}`, name);
  for (const n of [netA, netB, netU]) await nets.create(n);
  const { id: id1 } = await runSleeper(d, { name, network: netA });
  const nets1 = () => endpoints(d, id1);

  await t.step("connect gives a running container an interface on the new network", async () => {
    const subnetB = (await ipamOf(d, netB)).Subnet;
    const want = subnetB.replace(/\.0\/24$/, ".77");
    await d.ok(["network", "connect", "--ip", want, "--alias", `cc-alias-${tag}`, netB, name]);
    const n = await nets1();
    assertEquals(Object.keys(n).sort(), [netA, netB].sort());
    assertEquals(n[netB].IPAddress, want);
    assertEquals(n[netB].Aliases, [`cc-alias-${tag}`]);
    const out = await runOnOk(
      d,
      netB,
      `ping -c1 -W2 ${want} >/dev/null && echo ip-ok; ping -c1 -W2 cc-alias-${tag} >/dev/null && echo alias-ok`,
    );
    ok(out.includes("ip-ok") && out.includes("alias-ok"), out);
    const again = await d.cli(["network", "connect", netB, name]);
    match(again.stderr, /already connected/);
  });

  await t.step("disconnect removes the interface and the address", async () => {
    const ipB = (await nets1())[netB].IPAddress;
    await d.ok(["network", "disconnect", netB, name]);
    assertEquals(Object.keys(await nets1()), [netA]);
    const r = await pingFrom(d, netB, ipB);
    ok(r.code !== 0, "the old address no longer answers");
    const not = await d.cli(["network", "disconnect", netB, name]);
    match(not.stderr, /is not connected/);
    await d.ok(["network", "disconnect", "-f", netB, name]);
  });

  await t.step("--network container: shares the other container's interfaces", async () => {
    const ipA = (await nets1())[netA].IPAddress;
    const out = await runOnOk(d, `container:${name}`, ["ip", "-4", "addr", "show", "eth0"]);
    ok(out.includes(`inet ${ipA}/`), out);
    const bad = await d.cli(["create", "--network", "container:no-such-ctr", "busybox"]);
    match(bad.stderr, /not found/);
    const conflict = await d.cli([
      "create",
      "--network",
      `container:${name}`,
      "-p",
      "80:80",
      "busybox",
    ]);
    match(conflict.stderr, /conflicting options/);
  });

  await t.step(
    "connect and disconnect rewrite a running container's /etc/hosts and resolv.conf",
    async () => {
      const watcher = `ccw-${tag}`;
      // Prints both files whenever they change, so the last snapshot is what it sees now.
      const loop = 'p=; while :; do c=$(cat /etc/hosts /etc/resolv.conf); [ "$c" != "$p" ] && ' +
        '{ echo "== snapshot"; echo "$c"; p=$c; }; sleep 0.2; done';
      const { id: wid, ip: ipA } = await runDetached(
        d,
        { name: watcher, hostname: "watchbox", network: netA },
        ["sh", "-c", loop],
      );
      // One more sharing the watcher's network namespace: its files follow the watcher's.
      await d.ok([
        "run",
        "-d",
        "--name",
        `${watcher}-s`,
        "--hostname",
        "sharer",
        "--network",
        `container:${watcher}`,
        "busybox",
        "sh",
        "-c",
        loop,
      ]);
      const seen = async (who = watcher) =>
        (await d.ok(["logs", who])).split("== snapshot\n").at(-1)!;
      const until = async (want: (s: string) => boolean, who = watcher) => {
        let s = "";
        for (let i = 0; i < 50; i++) {
          s = await seen(who);
          if (want(s)) return s;
          await new Promise((r) => setTimeout(r, 200));
        }
        throw new Error(`the container never saw the change; it sees:\n${s}`);
      };
      const gwA = (await ipamOf(d, netA)).Gateway;
      const gwB = (await ipamOf(d, netB)).Gateway;
      const wnets = () => endpoints(d, wid);
      const peerA = (await nets1())[netA].IPAddress;
      let s = await until((s) => s.includes(`${ipA}\twatchbox`));
      ok(s.includes(`nameserver ${gwA}`), s);
      ok(!s.includes(peerA), `peers are not in /etc/hosts (DNS names them):\n${s}`);

      await d.ok(["network", "connect", netB, watcher]);
      const ipB = (await wnets())[netB].IPAddress;
      s = await until((s) => s.includes(`${ipB}\twatchbox`));
      ok(s.includes(`${ipA}\twatchbox`), s);
      assertEquals(
        s.split("\n").filter((l) => l.startsWith("nameserver")),
        [`nameserver ${gwA}`, `nameserver ${gwB}`],
      );
      s = await until((s) => s.includes(`${ipB}\tsharer`), `${watcher}-s`);
      ok(s.includes(`nameserver ${gwB}`), s);
      const onHost = Deno.readTextFileSync(`${d.root}/containers/${wid}/hosts`);
      ok(onHost.includes(`${ipB}\twatchbox`), onHost);

      await d.ok(["network", "disconnect", netB, watcher]);
      s = await until((s) => !s.includes(ipB));
      ok(s.includes(`${ipA}\twatchbox`), s);
      assertEquals(
        s.split("\n").filter((l) => l.startsWith("nameserver")),
        [`nameserver ${gwA}`],
      );
      await until((s) => !s.includes(ipB), `${watcher}-s`);
      await d.ok(["rm", "-f", `${watcher}-s`, watcher]);
    },
  );

  await t.step("prune removes only networks without containers", async () => {
    const out = await d.ok(["network", "prune", "-f"]);
    ok(out.includes(netB) && out.includes(netU), out);
    ok(!out.includes(netA), out);
    const ls = await d.ok(["network", "ls", "--format", "{{.Name}}"]);
    ok(ls.includes(netA) && !ls.includes(netB) && !ls.includes(netU), ls);
    const links = hostLinks();
    ok(!links.includes(bridges[1]) && !links.includes(bridges[2]), "their bridges are gone");
  });
});
