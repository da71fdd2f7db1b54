import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import {
  firewallRules,
  ip6tablesRules,
  iptablesPrefix,
  iptablesRules,
  parsePublished,
  parseSaved,
  restoreScript,
} from "./iptables_rules.ts";
import { parsePublish } from "./ports.ts";

const P = "POLIS-1a2b3c4d";
const nets = [
  { bridge: "pbr-a", subnet: "10.9.1.0/24", internal: false },
  { bridge: "pbr-b", subnet: "10.9.2.0/24", internal: false },
  { bridge: "pbr-i", subnet: "10.9.3.0/24", internal: true },
];
const none = { chains: [], rules: [], jumps: [] };
const empty = {
  nat: { chains: [], jumps: [], rules: [] },
  filter: { chains: [], jumps: [], rules: [] },
};

Deno.test("the chain prefix comes from the nft table name and leaves room under 28 characters", () => {
  assertEquals(iptablesPrefix("polis_1a2b3c4d"), P);
  const r = iptablesRules(P, { nets, opts: { egress: false, firewall: [] }, ports: [] });
  for (const c of [...r.nat.chains, ...r.filter.chains]) ok(c.length <= 28, c);
});

Deno.test("nothing to hold: no chains, no jumps", () => {
  assertEquals(iptablesRules(P, { nets: [], opts: { egress: true }, ports: [] }), {
    nat: none,
    filter: none,
  });
});

Deno.test("networks are isolated; internal ones talk only to themselves; DNAT passes first", () => {
  const f = iptablesRules(P, { nets, opts: { egress: true }, ports: [] }).filter.rules;
  const F = `-A ${P}-FWD`;
  ok(f.includes(`${F} -i pbr-a -o pbr-b -j DROP`));
  ok(f.includes(`${F} -i pbr-a -o pbr-i -j DROP`));
  ok(f.includes(`${F} -i pbr-b -o pbr-a -j DROP`));
  ok(f.includes(`${F} -i pbr-i ! -o pbr-i -j DROP`));
  ok(f.includes(`${F} ! -i pbr-i -o pbr-i -j DROP`));
  const dnat = f.indexOf(`${F} -m conntrack --ctstate DNAT -j RETURN`);
  ok(dnat > f.indexOf(`${F} ! -i pbr-i -o pbr-i -j DROP`));
  ok(dnat < f.indexOf(`${F} -i pbr-a -o pbr-b -j DROP`));
  ok(!f.some((r) => r.includes("ACCEPT")), "our chains never accept for the host's FORWARD");
  ok(!f.some((r) => r.includes("-EGR")), "egress allowed: no egress chain");
});

Deno.test("non-internal subnets are masqueraded going out (and hairpin); internal ones never", () => {
  const n = iptablesRules(P, { nets, opts: { egress: true }, ports: [] }).nat.rules;
  ok(n.includes(`-A ${P}-POST -s 10.9.1.0/24 ! -o pbr-a -j MASQUERADE`));
  ok(n.includes(`-A ${P}-POST -s 10.9.2.0/24 ! -o pbr-b -j MASQUERADE`));
  ok(n.includes(`-A ${P}-POST -s 10.9.1.0/24 -o pbr-a -m conntrack --ctstate DNAT -j MASQUERADE`));
  ok(!n.some((r) => r.includes("10.9.3.0")), n.join("\n"));
});

Deno.test("without egress a Polis bridge routes only to Polis bridges", () => {
  const r = iptablesRules(P, { nets, opts: { egress: false }, ports: [] }).filter;
  ok(r.chains.includes(`${P}-EGR`));
  for (const b of ["pbr-a", "pbr-b", "pbr-i"]) {
    ok(r.rules.includes(`-A ${P}-FWD -i ${b} -j ${P}-EGR`));
    ok(r.rules.includes(`-A ${P}-EGR -o ${b} -j RETURN`));
  }
  assertEquals(r.rules.at(-1), `-A ${P}-EGR -j DROP`);
});

Deno.test("published ports are DNAT rules, host-address ones first, with loopback masquerade", () => {
  const ports = [
    ...parsePublish("8080:80").map((m) => ({ mapping: m, address: "10.9.1.2" })),
    ...parsePublish("127.0.0.1:53:5353/udp").map((m) => ({ mapping: m, address: "10.9.1.3" })),
  ];
  const r = iptablesRules(P, { nets: [], opts: { egress: true }, ports }).nat;
  assertEquals(r.rules, [
    `-A ${P}-DNAT -d 127.0.0.1/32 -p udp -m udp --dport 53 -j DNAT --to-destination 10.9.1.3:5353`,
    `-A ${P}-DNAT -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.9.1.2:80`,
    `-A ${P}-POST -s 127.0.0.0/8 -m conntrack --ctstate DNAT -j MASQUERADE`,
  ]);
  assertEquals(r.jumps, [
    `-A PREROUTING -m addrtype --dst-type LOCAL -j ${P}-DNAT`,
    `-A OUTPUT -m addrtype --dst-type LOCAL -j ${P}-DNAT`,
    `-A POSTROUTING -j ${P}-POST`,
  ]);
  // A restarted daemon reads them back from iptables-save.
  const saved = parseSaved(
    [":PREROUTING ACCEPT [0:0]", `:${P}-DNAT - [0:0]`, ...r.rules].join("\n"),
    P,
  );
  assertEquals(parsePublished(saved, P), ports.reverse());
});

Deno.test("firewall rules: deny drops, allow returns to the isolation rules, in order", () => {
  const rules = firewallRules("FW", [
    {
      bridge: "pbr-a",
      subnet: "10.9.1.0/24",
      address: "10.9.1.5",
      rules: [
        { direction: "ingress", action: "deny", protocol: "tcp", port: 80 },
        { direction: "egress", action: "allow", cidr: "10.0.0.0/8" },
      ],
    },
    {
      bridge: "pbr-a",
      subnet: "10.9.1.0/24",
      rules: [{ direction: "ingress", action: "deny", cidr: "10.9.2.7", protocol: "icmp" }],
    },
  ]);
  assertEquals(rules, [
    "-A FW -d 10.9.1.5/32 -p tcp -m tcp --dport 80 -j DROP",
    "-A FW -s 10.9.1.5/32 -d 10.0.0.0/8 -j RETURN",
    "-A FW -o pbr-a -s 10.9.2.7/32 -p icmp -j DROP",
  ]);
  const r = iptablesRules(P, {
    nets: nets.slice(0, 1),
    opts: {
      egress: true,
      firewall: [{
        bridge: "pbr-a",
        subnet: "10.9.1.0/24",
        rules: [{ direction: "egress", action: "deny" }],
      }],
    },
    ports: [],
  }).filter;
  assertEquals(r.rules.slice(0, 2), [`-A ${P}-FWD -j ${P}-FW`, `-A ${P}-FW -i pbr-a -j DROP`]);
});

Deno.test("dual-stack firewall rules: ip6tables gets the IPv6 ones, ND first, icmp as ICMPv6", () => {
  const dual = {
    bridge: "pbr-6",
    subnet: "10.9.4.0/24",
    subnet6: "fd00:9::/64",
  };
  const firewall = [
    {
      ...dual,
      address: "10.9.4.2",
      address6: "fd00:9::2",
      ports: ["pve-2"],
      rules: [
        { direction: "egress" as const, action: "deny" as const, cidr: "fd00:9::3" },
        { direction: "egress" as const, action: "deny" as const, cidr: "10.9.4.3" },
        { direction: "ingress" as const, action: "deny" as const, protocol: "icmp" as const },
      ],
    },
    { ...dual, rules: [{ direction: "egress" as const, action: "deny" as const, port: 80 }] },
  ];
  assertEquals(firewallRules("FW", firewall, 4), [
    "-A FW -s 10.9.4.2/32 -d 10.9.4.3/32 -j DROP",
    "-A FW -d 10.9.4.2/32 -p icmp -j DROP",
    "-A FW -i pbr-6 -p tcp -m tcp --dport 80 -j DROP",
  ]);
  assertEquals(firewallRules("FW", firewall, 6), [
    "-A FW -p ipv6-icmp -m icmp6 --icmpv6-type neighbour-solicitation -j RETURN",
    "-A FW -p ipv6-icmp -m icmp6 --icmpv6-type neighbour-advertisement -j RETURN",
    "-A FW -s fd00:9::2/128 -d fd00:9::3/128 -j DROP",
    "-A FW -m physdev --physdev-in pve-2 --physdev-is-bridged -d fd00:9::3/128 -j DROP",
    "-A FW -d fd00:9::2/128 -p ipv6-icmp -j DROP",
    "-A FW -m physdev --physdev-out pve-2 --physdev-is-bridged -p ipv6-icmp -j DROP",
    "-A FW -i pbr-6 -p tcp -m tcp --dport 80 -j DROP",
  ]);
  const v6 = ip6tablesRules(P, {
    nets: [{ ...dual, internal: false }],
    opts: { egress: true, firewall },
    ports: [],
  }).filter;
  assertEquals(v6.chains, [`${P}-FWD`, `${P}-FW`]);
  assertEquals(v6.rules[0], `-A ${P}-FWD -j ${P}-FW`);
  assertEquals(v6.jumps, [`-A FORWARD -j ${P}-FWD`]);
  // An IPv4-only network without containers has no IPv6 rules at all.
  const v4 = ip6tablesRules(P, {
    nets: nets.slice(0, 1),
    opts: {
      egress: true,
      firewall: [{ bridge: "pbr-a", subnet: "10.9.1.0/24", rules: firewall[1].rules }],
    },
    ports: [],
  });
  assertEquals(v4.filter, none);
});

Deno.test("parseSaved keeps only our chains, our rules and the built-in jumps into ours", () => {
  const text = [
    "*filter",
    ":FORWARD ACCEPT [0:0]",
    ":DOCKER - [0:0]",
    `:${P}-FWD - [0:0]`,
    ":POLIS-99999999-FWD - [0:0]",
    "-A FORWARD -j DOCKER",
    `-A FORWARD -j ${P}-FWD`,
    "-A FORWARD -j POLIS-99999999-FWD",
    `-A ${P}-FWD -i pbr-a -o pbr-b -j DROP`,
    "COMMIT",
  ].join("\n");
  assertEquals(parseSaved(text, P), {
    chains: [`${P}-FWD`],
    jumps: [`-A FORWARD -j ${P}-FWD`],
    rules: [`-A ${P}-FWD -i pbr-a -o pbr-b -j DROP`],
  });
});

Deno.test("restore: a fresh host gets our chains, rules and one jump each", () => {
  const want = iptablesRules(P, { nets: nets.slice(0, 1), opts: { egress: true }, ports: [] });
  const s = restoreScript(want, empty);
  ok(s.startsWith(`*nat\n:${P}-DNAT - [0:0]\n:${P}-POST - [0:0]\n-I PREROUTING 1 -m addrtype`), s);
  ok(s.includes(`*filter\n:${P}-FWD - [0:0]\n-I FORWARD 1 -j ${P}-FWD\n`), s);
  assertEquals(s.split("\n").filter((l) => l === "COMMIT").length, 2);
  ok(!/^-[FXP] (PREROUTING|OUTPUT|POSTROUTING|FORWARD|INPUT)\b/m.test(s), "built-ins untouched");
});

Deno.test("restore: jumps already right stay; duplicates left by a crash are replaced by one", () => {
  const want = iptablesRules(P, { nets: nets.slice(0, 1), opts: { egress: true }, ports: [] });
  const good = { chains: [`${P}-FWD`], jumps: [`-A FORWARD -j ${P}-FWD`], rules: [] };
  const natOk = { chains: want.nat.chains, jumps: want.nat.jumps, rules: [] };
  const s = restoreScript(want, { nat: natOk, filter: good });
  ok(!s.includes("-I ") && !s.includes("-D "), s);
  const dup = { ...good, jumps: [good.jumps[0], good.jumps[0]] };
  const t = restoreScript(want, { nat: natOk, filter: dup });
  const lines = t.split("\n");
  assertEquals(lines.filter((l) => l === `-D FORWARD -j ${P}-FWD`).length, 2);
  assertEquals(lines.filter((l) => l === `-I FORWARD 1 -j ${P}-FWD`).length, 1);
});

Deno.test("restore: with nothing to hold, our jumps go, then our chains (stale ones too)", () => {
  const have = {
    nat: {
      chains: [`${P}-DNAT`],
      jumps: [`-A OUTPUT -m addrtype --dst-type LOCAL -j ${P}-DNAT`],
      rules: [],
    },
    filter: { chains: [`${P}-FWD`, `${P}-OLD`], jumps: [`-A FORWARD -j ${P}-FWD`], rules: [] },
  };
  const s = restoreScript({ nat: none, filter: none }, have);
  assertEquals(
    s,
    [
      "*nat",
      `:${P}-DNAT - [0:0]`,
      `-D OUTPUT -m addrtype --dst-type LOCAL -j ${P}-DNAT`,
      `-X ${P}-DNAT`,
      "COMMIT",
      "*filter",
      `:${P}-FWD - [0:0]`,
      `:${P}-OLD - [0:0]`,
      `-D FORWARD -j ${P}-FWD`,
      `-X ${P}-FWD`,
      `-X ${P}-OLD`,
      "COMMIT",
      "",
    ].join("\n"),
  );
  assertEquals(restoreScript({ nat: none, filter: none }, empty), "");
});
