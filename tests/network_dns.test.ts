/**
 * The embedded DNS of user-defined networks: containers find each other by name and by
 * `--network-alias`, a container on another network cannot resolve them (answered at once:
 * no upstream is configured, nothing is forwarded), the server answers over UDP and TCP on the
 * gateway, and `--dns` / `--add-host` shape the container's files. Traffic goes only to
 * containers and gateways of networks this test made.
 */

import { deepStrictEqual as assertEquals, match, ok } from "node:assert/strict";
import { decodeQuery, encodeResponse, RCODE_NOERROR } from "../src/network/mod.ts";
import { daemonTest } from "./helpers/fixture.ts";
import { ipamOf, runOn, runOnOk, runSleeper, TestNetworks, uniqueTag } from "./helpers/network.ts";

const tag = uniqueTag();

/** A query for `name` (type A), built with the encoder the server uses. */
function query(name: string, id: number): Uint8Array {
  const q = encodeResponse({ id, flags: 0x0100, questions: [{ name, type: 1, class: 1 }] }, {
    rcode: RCODE_NOERROR,
  });
  q[2] &= 0x7f; // clear QR: a query
  q[3] = 0;
  decodeQuery(q); // it is one
  return q;
}

function answerAddresses(msg: Uint8Array): { rcode: number; addrs: string[] } {
  const rcode = msg[3] & 0xf;
  const an = (msg[6] << 8) | msg[7];
  const addrs: string[] = [];
  // Our answers follow the question and use a 2-byte pointer as their name.
  let off = 12;
  while (msg[off] !== 0) off += msg[off] + 1;
  off += 5;
  for (let i = 0; i < an; i++) {
    off += 2 + 8;
    const len = (msg[off] << 8) | msg[off + 1];
    addrs.push(Array.from(msg.subarray(off + 2, off + 2 + len)).join("."));
    off += 2 + len;
  }
  return { rcode, addrs };
}

daemonTest(
  "containers on a user network find each other by name through the embedded DNS",
  async (d, t) => {
    const netA = `pzt-da-${tag}`;
    const netB = `pzt-db-${tag}`;
    const name = `dns1-${tag}`;
    const alias = `db-${tag}`;
    await using nets = new TestNetworks(d);
    nets.removeLater(name);
    for (const n of [netA, netB]) await nets.create(n);
    const gwA = (await ipamOf(d, netA)).Gateway;
    const { id: id1, ip: ip1 } = await runSleeper(d, {
      name,
      network: netA,
      flags: ["--network-alias", alias],
    });

    await t.step("by name and by alias, with resolv.conf pointing at the gateway", async () => {
      const out = await runOnOk(
        d,
        netA,
        `cat /etc/resolv.conf; ping -c1 -W2 ${name} >/dev/null && echo name-ok; ` +
          `ping -c1 -W2 ${alias} >/dev/null && echo alias-ok; nslookup ${name}`,
      );
      match(out, new RegExp(`^nameserver ${gwA.replaceAll(".", "\\.")}$`, "m"));
      ok(out.includes("name-ok"), out);
      ok(out.includes("alias-ok"), out);
      ok(out.includes(ip1), out);
    });

    await t.step(
      "a container on another network cannot resolve them, and fails fast",
      async () => {
        const t0 = Date.now();
        const r = await runOn(d, netB, ["nslookup", name]);
        ok(r.code !== 0, `must not resolve:\n${r.stdout}${r.stderr}`);
        ok(!r.stdout.includes(ip1), r.stdout);
        ok(Date.now() - t0 < 8000, `answered in ${Date.now() - t0} ms`);
      },
    );

    await t.step("the gateway answers over UDP and TCP; unknown names are REFUSED", async () => {
      const dgram = (await import("node:dgram")).default;
      const udpAsk = (q: Uint8Array) =>
        new Promise<Uint8Array>((resolve, reject) => {
          const s = dgram.createSocket("udp4");
          const timer = setTimeout(() => {
            s.close();
            reject(new Error("no UDP answer"));
          }, 3000);
          s.on("message", (m) => {
            clearTimeout(timer);
            s.close();
            resolve(new Uint8Array(m));
          });
          s.send(q, 53, gwA);
        });
      assertEquals(answerAddresses(await udpAsk(query(alias, 7))), { rcode: 0, addrs: [ip1] });
      assertEquals(answerAddresses(await udpAsk(query("nothing.example", 8))).rcode, 5);
      const conn = await Deno.connect({ hostname: gwA, port: 53 });
      try {
        const q = query(name.toUpperCase(), 9);
        const framed = new Uint8Array([q.length >> 8, q.length & 255, ...q]);
        await conn.write(framed);
        const buf = new Uint8Array(512);
        let got = 0;
        while (got < 2 || got < 2 + ((buf[0] << 8) | buf[1])) {
          const n = await conn.read(buf.subarray(got));
          if (n === null) break;
          got += n;
        }
        assertEquals(answerAddresses(buf.subarray(2, got)), { rcode: 0, addrs: [ip1] });
      } finally {
        conn.close();
      }
    });

    await t.step("--dns and --add-host write resolv.conf and hosts", async () => {
      const out = await runOnOk(d, netA, "cat /etc/resolv.conf /etc/hosts", [
        "--dns",
        "192.0.2.53",
        "--add-host",
        "extra.lan:10.9.8.7",
        "--add-host",
        "gw:host-gateway",
      ]);
      match(out, /^nameserver 192\.0\.2\.53$/m);
      match(out, /^10\.9\.8\.7\textra\.lan$/m);
      match(out, new RegExp(`^${gwA.replaceAll(".", "\\.")}\tgw$`, "m"));
      const bad = await d.cli(["create", "--add-host", "nocolon", "busybox"]);
      match(bad.stderr, /invalid --add-host "nocolon"/);
      const alias = await d.cli(["create", "--network-alias", "x", "busybox"]);
      match(alias.stderr, /user-defined networks/);
    });

    await t.step("after a daemon restart the names still resolve", async () => {
      await d.restart();
      const out = await runOnOk(d, netA, `ping -c1 -W2 ${alias} >/dev/null && echo alias-ok`);
      assertEquals(out.trim(), "alias-ok");
    });

    await t.step("network rm stops the DNS server", async () => {
      const listening = () => {
        const out = new Deno.Command("ss", { args: ["-Hlntu"] }).outputSync();
        return new TextDecoder().decode(out.stdout).split("\n")
          .filter((l) => l.includes(`${gwA}:53 `)).length;
      };
      assertEquals(listening(), 2, "UDP and TCP on the gateway");
      await d.ok(["rm", "-f", id1]);
      await d.ok(["network", "rm", netA]);
      assertEquals(listening(), 0, "nothing listens on the gateway any more");
    });
  },
);
