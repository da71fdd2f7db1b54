/**
 * Bridge networks end to end through the real CLI and a real daemon: containers on one
 * network reach each other, other networks cannot, `--network none` keeps only an up `lo`,
 * IPAM stays distinct under 200 parallel creates, nothing is left after rm, and a daemon
 * restart keeps running containers connected. Traffic goes only to container addresses on
 * networks this test made.
 */

import { deepStrictEqual as assertEquals, match, ok } from "node:assert/strict";
import { daemonTest } from "./helpers/fixture.ts";
import {
  api,
  endpoint,
  hostLinks,
  inspectNetwork,
  pingFrom,
  runOnOk,
  runSleeper,
  TestNetworks,
  uniqueTag,
} from "./helpers/network.ts";

const tag = uniqueTag();

daemonTest("bridge networks connect containers and keep networks apart", async (d, t) => {
  const netA = `pzt-a-${tag}`;
  const netB = `pzt-b-${tag}`;
  await using nets = new TestNetworks(d);
  const bridges = nets.bridges;
  const idA = await nets.create(netA);
  await nets.create(netB, ["--internal"]);

  await t.step("network ls and inspect show the networks with their subnets", async () => {
    const ls = await d.ok(["network", "ls", "--format", "{{.Name}} {{.Driver}}"]);
    for (const n of ["bridge bridge", "host host", "none null", `${netA} bridge`]) {
      ok(ls.includes(n), `ls lists ${n}:\n${ls}`);
    }
    const info = await inspectNetwork(d, netA);
    assertEquals(info.Id, idA);
    match(info.IPAM.Config[0].Subnet, /^\d+\.\d+\.\d+\.0\/24$/);
    assertEquals(info.Internal, false);
    ok(hostLinks().includes(bridges[0]), "the bridge exists on the host");
  });

  nets.removeLater(`a1-${tag}`);
  const { id: a1, ip: ip1 } = await runSleeper(d, { name: `a1-${tag}`, network: netA });

  await t.step("inspect shows the address, gateway and MAC on the network", async () => {
    const { Gateway: gw, MacAddress: mac } = await endpoint(d, a1, netA);
    match(ip1, /^\d+\.\d+\.\d+\.\d+$/);
    assertEquals(gw.split(".").slice(0, 3), ip1.split(".").slice(0, 3));
    match(mac, /^02:42(:[0-9a-f]{2}){4}$/);
  });

  await t.step("two containers on a user network reach each other by IP", async () => {
    const out = await runOnOk(
      d,
      netA,
      `ping -c3 -W2 ${ip1} >/dev/null && echo reached; cat /etc/hostname; ip route`,
    );
    const lines = out.trim().split("\n");
    assertEquals(lines[0], "reached");
    ok(lines.some((l) => l.startsWith("default via")), `a default route:\n${out}`);
  });

  await t.step("/etc/hosts names the container with its address", async () => {
    const out = await runOnOk(d, netA, ["cat", "/etc/hosts"], ["--hostname", "web"]);
    match(out, /^127\.0\.0\.1\tlocalhost$/m);
    match(out, /^\d+\.\d+\.\d+\.\d+\tweb\b/m);
  });

  await t.step("a container on another network cannot reach them", async () => {
    const r = await pingFrom(d, netB, ip1);
    ok(r.code !== 0, `ping across networks must fail:\n${r.stdout}${r.stderr}`);
    // An internal network has no default route.
    const routes = await runOnOk(d, netB, ["ip", "route"]);
    ok(!routes.includes("default"), routes);
  });

  await t.step(
    "--ip gives a fixed address; a taken one and the gateway are refused",
    async () => {
      const subnet = (await inspectNetwork(d, netA)).IPAM.Config[0];
      const base = subnet.Subnet.split("/")[0].split(".").slice(0, 3).join(".");
      const want = `${base}.200`;
      const out = await runOnOk(d, netA, ["ip", "-4", "addr", "show", "eth0"], ["--ip", want]);
      ok(out.includes(`inet ${want}/24`), out);
      const taken = await d.cli(["create", "--network", netA, "--ip", ip1, "busybox"]);
      assertEquals(taken.code, 125);
      match(taken.stderr, /already in use/);
      const gw = await d.cli(["create", "--network", netA, "--ip", subnet.Gateway, "busybox"]);
      match(gw.stderr, /is the gateway/);
      const none = await d.cli(["create", "--network", "no-such-net", "busybox"]);
      match(none.stderr, /network no-such-net not found/);
    },
  );

  await t.step("a network with containers cannot be removed", async () => {
    const r = await d.cli(["network", "rm", netA]);
    assertEquals(r.code, 1);
    match(r.stderr, /has active endpoints/);
    const bridge = await d.cli(["network", "rm", "bridge"]);
    match(bridge.stderr, /pre-defined network/);
  });

  await t.step("a daemon restart keeps running containers' networking working", async () => {
    await d.restart();
    const r = await pingFrom(d, netA, ip1, 2);
    assertEquals(r.code, 0, r.stdout + r.stderr);
    match(r.stdout, /1 packets received/);
    assertEquals((await endpoint(d, a1, netA)).IPAddress, ip1);
  });

  await t.step("after rm and network rm no veth, bridge or address remains", async () => {
    const vethPrefix = `pv${a1.slice(0, 8)}`;
    ok(hostLinks().some((l) => l.startsWith(vethPrefix)), "the container's veth exists");
    await d.ok(["rm", "-f", a1]);
    assertEquals(hostLinks().filter((l) => l.startsWith(vethPrefix)), []);
    await d.ok(["network", "rm", netA, netB]);
    const left = hostLinks();
    for (const b of bridges) ok(!left.includes(b), `bridge ${b} is gone`);
    // The gateway address and the subnet's route lived on the bridge, so they went with it.
    // (Checking the host's address list instead would race with other test daemons, which
    // may take the freed /24 for a network of their own at once.)
    const ls = await d.ok(["network", "ls", "-q"]);
    ok(!ls.includes(idA.slice(0, 12)), ls);
  });
});

daemonTest("--network none keeps only lo, and lo is up", async (d) => {
  const out = await runOnOk(
    d,
    "none",
    "ls /sys/class/net; ip link show lo; ping -c1 -W1 127.0.0.1 >/dev/null && echo loopback-ok",
  );
  const lines = out.trim().split("\n");
  assertEquals(lines[0], "lo");
  match(lines[1], /<LOOPBACK,UP,LOWER_UP>/);
  assertEquals(lines.at(-1), "loopback-ok");
});

daemonTest("200 parallel creates on one network get distinct addresses", async (d) => {
  const net = `pzt-p-${tag}`;
  const ids: string[] = [];
  {
    await using nets = new TestNetworks(d);
    const created = await api(d, "POST", "/networks", { name: net, subnet: undefined });
    assertEquals(created.status, 201);
    nets.adopt(net, created.json.Id);
    try {
      const results = await Promise.all(
        Array.from(
          { length: 200 },
          () =>
            api(d, "POST", "/containers", { image: "busybox", networkMode: net, cmd: ["true"] }),
        ),
      );
      for (const r of results) {
        assertEquals(r.status, 201, JSON.stringify(r.json));
        ids.push(r.json.Id);
      }
      const info = await api(d, "GET", `/networks/${net}`);
      const addrs = Object.values(info.json.Containers).map((c) =>
        (c as { IPv4Address: string }).IPv4Address
      );
      assertEquals(addrs.length, 200);
      assertEquals(new Set(addrs).size, 200);
      const gw = info.json.IPAM.Config[0].Gateway;
      ok(!addrs.includes(`${gw}/24`), "the gateway is never handed out");
    } finally {
      await Promise.all(ids.map((id) => api(d, "DELETE", `/containers/${id}?force=1`)));
      await api(d, "DELETE", `/networks/${net}`);
    }
  }
  const left = await api(d, "GET", "/networks");
  ok(!left.json.some((n: { Name: string }) => n.Name === net));
});
