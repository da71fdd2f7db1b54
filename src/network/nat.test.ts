import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import { natScript } from "./nat.ts";

const nets = [
  { bridge: "pbr-a", subnet: "10.9.1.0/24", internal: false },
  { bridge: "pbr-b", subnet: "10.9.2.0/24", internal: false },
  { bridge: "pbr-i", subnet: "10.9.3.0/24", internal: true },
];

Deno.test("no networks: the script only removes the table (whether or not it exists)", () => {
  assertEquals(
    natScript("t", [], { egress: true }),
    "add table ip t\ndelete table ip t\nadd table bridge t\ndelete table bridge t\n" +
      "add table ip6 t\ndelete table ip6 t\n",
  );
});

Deno.test("networks are isolated from each other; internal ones talk only to themselves", () => {
  const s = natScript("t", nets, { egress: true });
  ok(s.includes('add rule ip t forward iifname "pbr-a" oifname { "pbr-b", "pbr-i" } drop'));
  ok(s.includes('add rule ip t forward iifname "pbr-b" oifname { "pbr-a", "pbr-i" } drop'));
  ok(s.includes('add rule ip t forward iifname "pbr-i" oifname != "pbr-i" drop'));
  ok(s.includes('add rule ip t forward oifname "pbr-i" iifname != "pbr-i" drop'));
  // Published ports (DNAT) pass before the isolation drops, after the internal ones.
  const lines = s.split("\n");
  const dnat = lines.indexOf("add rule ip t forward ct status dnat accept");
  ok(dnat > lines.findIndex((l) => l.includes('oifname "pbr-i" iifname')));
  ok(dnat < lines.findIndex((l) => l.includes('iifname "pbr-a" oifname {')));
});

Deno.test("non-internal subnets are masqueraded going out; internal ones never", () => {
  const s = natScript("t", nets, { egress: true });
  ok(s.includes('add rule ip t postrouting ip saddr 10.9.1.0/24 oifname != "pbr-a" masquerade'));
  ok(s.includes('add rule ip t postrouting ip saddr 10.9.2.0/24 oifname != "pbr-b" masquerade'));
  ok(!s.includes("10.9.3.0/24"));
  ok(s.includes('iifname "pbr-a" oifname "pbr-a" ct status dnat masquerade'), "hairpin");
  ok(!s.includes("oifname != { "), "egress allowed: no egress drop");
});

Deno.test("without egress nothing is routed from a Polis bridge to another interface", () => {
  const s = natScript("t", nets, { egress: false });
  ok(s.includes(
    'iifname { "pbr-a", "pbr-b", "pbr-i" } oifname != { "pbr-a", "pbr-b", "pbr-i" } drop',
  ));
});

Deno.test("firewall rules go into their own chain and into the bridge table", () => {
  const s = natScript("t", nets, {
    egress: true,
    firewall: [{
      bridge: "pbr-a",
      subnet: "10.9.1.0/24",
      address: "10.9.1.2",
      rules: [{ direction: "ingress", action: "deny", port: 80 }],
    }],
  });
  ok(s.includes("add chain ip t firewall { type filter hook forward priority -10;"));
  ok(s.includes("add rule ip t firewall ip daddr 10.9.1.2 tcp dport 80 drop"));
  ok(s.includes("add rule bridge t forward ip daddr 10.9.1.2 tcp dport 80 drop"));
});

Deno.test({
  name: "the generated script is valid nftables (nft --check)",
  ignore: Deno.uid() !== 0,
  fn() {
    const out = new Deno.Command("nft", {
      args: ["-c", "-f", "-"],
      stdin: "piped",
      stderr: "piped",
    }).spawn();
    const w = out.stdin.getWriter();
    return (async () => {
      // "delete table" of a missing table is checked against the kernel: skip that part.
      const script = natScript(`polis_chk_${crypto.randomUUID().slice(0, 6)}`, nets, {
        egress: false,
        firewall: [{
          bridge: "pbr-a",
          subnet: "10.9.1.0/24",
          ports: ["pve-1", "pve-2"],
          rules: [{ direction: "egress", action: "deny", cidr: "10.0.0.0/8", protocol: "udp" }],
        }, {
          bridge: "pbr-b",
          subnet: "10.9.2.0/24",
          address: "10.9.2.2",
          rules: [{ direction: "ingress", action: "allow", port: 22 }],
        }, {
          bridge: "pbr-b",
          subnet: "10.9.2.0/24",
          subnet6: "fd00:2::/64",
          address: "10.9.2.3",
          address6: "fd00:2::3",
          ports: ["pve-3"],
          rules: [
            { direction: "egress", action: "deny", cidr: "fd00:2::4", protocol: "icmp" },
            { direction: "egress", action: "deny" },
          ],
        }],
      }).split("\n").filter((l) => !l.startsWith("delete")).join("\n");
      await w.write(new TextEncoder().encode(script));
      await w.close();
      const r = await out.output();
      assertEquals(new TextDecoder().decode(r.stderr), "");
      ok(r.success);
    })();
  },
});

Deno.test("a dual-stack network brings an ip6 table isolating every bridge, without NAT", () => {
  const v4only = natScript("t", nets, { egress: true });
  ok(!v4only.includes("add chain ip6"), "no ip6 table without an IPv6 network");
  const s = natScript("t", [...nets, {
    bridge: "pbr-6",
    subnet: "10.9.4.0/24",
    subnet6: "fd00:9::/64",
    internal: false,
  }], { egress: false });
  ok(s.includes("add chain ip6 t forward { type filter hook forward priority filter;"));
  ok(
    s.includes('add rule ip6 t forward iifname "pbr-6" oifname { "pbr-a", "pbr-b", "pbr-i" } drop'),
  );
  ok(
    s.includes('add rule ip6 t forward iifname "pbr-a" oifname { "pbr-b", "pbr-i", "pbr-6" } drop'),
  );
  ok(s.includes('add rule ip6 t forward iifname "pbr-i" oifname != "pbr-i" drop'));
  ok(
    s.includes('add rule ip6 t forward iifname { "pbr-a", "pbr-b", "pbr-i", "pbr-6" } oifname !='),
  );
  ok(!s.includes("add chain ip6 t postrouting"), "no NAT66");
  ok(!s.includes("fd00:9::/64"));
});

Deno.test("IPv6 firewall rules go into an ip6 firewall chain; the bridge table passes ND first", () => {
  const s = natScript("t", nets, {
    egress: true,
    firewall: [{
      bridge: "pbr-a",
      subnet: "10.9.1.0/24",
      subnet6: "fd00:1::/64",
      address: "10.9.1.2",
      address6: "fd00:1::2",
      rules: [{ direction: "egress", action: "deny" }],
    }],
  }).split("\n");
  const at = (l: string) => s.indexOf(l);
  ok(at("add chain ip6 t firewall { type filter hook forward priority -10; policy accept; }") > 0);
  ok(at("add rule ip6 t firewall ip6 saddr fd00:1::2 drop") > 0);
  ok(at("add rule ip t firewall ip saddr 10.9.1.2 drop") > 0);
  const nd = at(
    "add rule bridge t forward icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept",
  );
  ok(nd > 0 && nd < at("add rule bridge t forward ip6 saddr fd00:1::2 drop"));
  ok(at("add rule bridge t forward ip saddr 10.9.1.2 drop") > 0);
  const v4 = natScript("t", nets, {
    egress: true,
    firewall: [{
      bridge: "pbr-a",
      subnet: "10.9.1.0/24",
      rules: [{ direction: "egress", action: "deny" }],
    }],
  });
  ok(!v4.includes("icmpv6") && !v4.includes("add chain ip6"), "nothing IPv6 without IPv6");
});
