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
import dgram from "node:dgram";
import { Rtnl } from "../ffi/mod.ts";
import { bridgedTrafficFiltered, iptablesPrefix, nftTableName } from "../src/network/mod.ts";
import { isRoot, TestDaemon } from "./helpers/daemon.ts";
import { busyboxImages } from "./helpers/image.ts";

const tag = crypto.randomUUID().slice(0, 6);
const port = () => 20000 + Math.floor(Math.random() * 20000);

function save(tool = "iptables-save"): string {
  const out = new Deno.Command(tool, { stdout: "piped", stderr: "null" }).outputSync();
  return new TextDecoder().decode(out.stdout);
}

/** Every line of iptables-save naming our chains (declarations, jumps and rules). */
function ours(prefix: string, tool = "iptables-save"): string[] {
  return save(tool).split("\n").filter((l) => l.includes(`${prefix}-`));
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const v = await fn();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function fetchText(url: string): Promise<string> {
  return await waitFor(url, async () => {
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(1000) });
      const text = await r.text();
      return r.ok ? text : undefined;
    } catch {
      return undefined;
    }
  });
}

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

Deno.test({
  name: "the iptables backend publishes ports, isolates and masquerades networks, and cleans up",
  ignore: !isRoot,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const d = new TestDaemon("iptables", undefined, { args: ["--firewall-backend", "iptables"] });
    const prefix = iptablesPrefix(nftTableName(d.root));
    const netA = `pzt-ia-${tag}`;
    const netC = `pzt-ic-${tag}`;
    const netI = `pzt-ii-${tag}`;
    const netS = `pzt-is-${tag}`;
    const bridges: string[] = [];
    const web = `iweb-${tag}`;
    try {
      await d.start();
      await d.ok(["load", "-i", (await busyboxImages()).dockerArchive]);
      for (const [n, flags] of [[netA, []], [netC, []], [netI, ["--internal"]]] as const) {
        const id = (await d.ok(["network", "create", ...flags, n])).trim();
        bridges.push(`pbr-${id.slice(0, 11)}`);
      }
      bridges.push(
        `pbr-${(await d.ok(["network", "create", "--ipv6", netS])).trim().slice(0, 11)}`,
      );
      const [brA, brC, brI, brS] = bridges;
      const ipam = async (n: string) =>
        JSON.parse(await d.ok(["network", "inspect", n]))[0].IPAM.Config[0] as {
          Subnet: string;
          Gateway: string;
        };
      const [a, c, i] = [await ipam(netA), await ipam(netC), await ipam(netI)];

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
        const nft = new Deno.Command("nft", {
          args: ["list", "table", "ip", `${nftTableName(d.root)}_net`],
          stdout: "null",
          stderr: "null",
        }).outputSync();
        ok(!nft.success, "no nft table");
      });

      await t.step("a dual-stack network is isolated over IPv6 too, with ip6tables", () => {
        const lines = ours(prefix, "ip6tables-save");
        ok(lines.includes(`-A FORWARD -j ${prefix}-FWD`), lines.join("\n"));
        ok(lines.includes(`-A ${prefix}-FWD -i ${brS} -o ${brA} -j DROP`), lines.join("\n"));
        ok(lines.includes(`-A ${prefix}-FWD -i ${brI} ! -o ${brI} -j DROP`), lines.join("\n"));
        ok(!lines.some((l) => l.includes("nat") || l.includes("MASQUERADE")), "no NAT66");
      });

      const p1 = port();
      const p2 = port();
      const wid = (await d.ok([
        "run",
        "-d",
        "--name",
        web,
        "--hostname",
        "webbox",
        "--network",
        netA,
        "-p",
        `127.0.0.1:${p1}:80`,
        "-p",
        `${a.Gateway}:${p2}:80`,
        "busybox",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/etc",
      ])).trim();
      const webIp = JSON.parse(
        await d.ok(["inspect", "-f", "{{json .NetworkSettings.Networks}}", wid]),
      )[netA].IPAddress as string;
      const fetchFrom = (net: string) =>
        d.cli([
          "run",
          "--rm",
          "--network",
          net,
          "busybox",
          "sh",
          "-c",
          `for i in 1 2 3 4 5; do printf "GET /hostname HTTP/1.0\\r\\n\\r\\n" | nc -w 2 ${a.Gateway} ${p2} | tail -1 | grep . && exit 0; sleep 0.3; done; exit 1`,
        ]);

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
        const up = port();
        // busybox has no UDP server here: the container reports its UDP counters, and a
        // datagram to a port nobody listens on counts as NoPorts inside its namespace.
        const id = (await d.ok([
          "run",
          "-d",
          "--network",
          netA,
          "-p",
          `127.0.0.1:${up}:7777/udp`,
          "busybox",
          "sh",
          "-c",
          `while :; do awk '/^Udp:/{n++} n==2{print "udp-noports", $3; exit}' /proc/net/snmp; sleep 0.2; done`,
        ])).trim();
        const noPorts = async () => {
          const lines = (await d.ok(["logs", "--tail", "1", id])).trim().split("\n");
          const m = /udp-noports (\d+)/.exec(lines.at(-1) ?? "");
          return m ? Number(m[1]) : undefined;
        };
        const before = await waitFor("the counters", noPorts);
        const s = dgram.createSocket("udp4");
        s.on("error", () => {}); // ICMP port unreachable coming back, as expected
        try {
          await waitFor("a datagram in the container", async () => {
            await new Promise<void>((r) => s.send("ping", up, "127.0.0.1", () => r()));
            const n = await noPorts();
            return n !== undefined && n > before ? n : undefined;
          });
        } finally {
          s.close();
        }
        await d.ok(["rm", "-f", id]);
        ok(!ours(prefix).some((l) => l.includes(`--dport ${up} `)), "its mapping went with it");
      });

      await t.step("two networks are isolated", async () => {
        const ping = (net: string) =>
          d.cli(["run", "--rm", "--network", net, "busybox", "ping", "-c1", "-W1", webIp]);
        const same = await ping(netA);
        assertEquals(same.code, 0, same.stdout + same.stderr);
        const other = await ping(netC);
        ok(other.code !== 0, `ping across networks must fail:\n${other.stdout}`);
      });

      await t.step(
        "a firewall rule blocks the port within the network; removing it restores",
        async () => {
          const probe = () =>
            d.cli([
              "run",
              "--rm",
              "--network",
              netA,
              "busybox",
              "sh",
              "-c",
              `printf "GET /hostname HTTP/1.0\\r\\n\\r\\n" | nc -w 2 ${webIp} 80 | tail -1`,
            ]);
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
            ["ip", "bridge"].flatMap((fam) =>
              [nftTableName(d.root), `${nftTableName(d.root)}_net`].filter((t) =>
                new Deno.Command("nft", { args: ["list", "table", fam, t], stderr: "null" })
                  .outputSync().success
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
    } catch (e) {
      console.error(`daemon log:\n${d.daemonLog().slice(-4000)}`);
      throw e;
    } finally {
      if (!(await d.ping())) await d.start().catch(() => {});
      await d.cli(["rm", "-f", web]).catch(() => {});
      await d.cli(["network", "rm", netA, netC, netI, netS]).catch(() => {});
      await d.cleanup();
      using nl = new Rtnl();
      for (const b of bridges) nl.deleteLinkIfExists(b);
    }
  },
});

Deno.test({
  name: "--firewall-backend proxy: ports relayed by the daemon, no kernel rules, firewall refused",
  ignore: !isRoot,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const d = new TestDaemon("fwproxy", undefined, { args: ["--firewall-backend", "proxy"] });
    const prefix = iptablesPrefix(nftTableName(d.root));
    const net = `pzt-ip-${tag}`;
    let bridge = "";
    try {
      await d.start();
      await d.ok(["load", "-i", (await busyboxImages()).dockerArchive]);
      bridge = `pbr-${(await d.ok(["network", "create", net])).trim().slice(0, 11)}`;
      const p = port();
      await d.ok([
        "run",
        "-d",
        "--name",
        `pweb-${tag}`,
        "--hostname",
        "proxybox",
        "--network",
        net,
        "-p",
        `127.0.0.1:${p}:80`,
        "busybox",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/etc",
      ]);
      assertEquals(await fetchText(`http://127.0.0.1:${p}/hostname`), "proxybox\n");
      assertEquals(ours(prefix), []);
      const nft = new Deno.Command("nft", {
        args: ["list", "table", "ip", nftTableName(d.root)],
        stdout: "null",
        stderr: "null",
      }).outputSync();
      ok(!nft.success, "no nft table");
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
    } catch (e) {
      console.error(`daemon log:\n${d.daemonLog().slice(-4000)}`);
      throw e;
    } finally {
      await d.cli(["rm", "-f", `pweb-${tag}`]).catch(() => {});
      await d.cli(["network", "rm", net]).catch(() => {});
      await d.cleanup();
      if (bridge) {
        using nl = new Rtnl();
        nl.deleteLinkIfExists(bridge);
      }
    }
  },
});
