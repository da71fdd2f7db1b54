import { deepStrictEqual as assertEquals, throws } from "node:assert/strict";
import { compileFirewall, validateRule } from "./firewall.ts";

Deno.test("firewall rules compile per container and per network, for ip and bridge", () => {
  const cases: [
    string,
    Parameters<typeof compileFirewall>[0],
    { ip: string[]; ip6: string[]; bridge: string[]; v6: boolean },
  ][] = [
    [
      "container ingress tcp port from a CIDR",
      {
        bridge: "pbr-a",
        subnet: "10.9.0.0/24",
        address: "10.9.0.2",
        rules: [{ direction: "ingress", action: "deny", cidr: "10.9.0.0/24", port: 80 }],
      },
      {
        ip: ["ip daddr 10.9.0.2 ip saddr 10.9.0.0/24 tcp dport 80 drop"],
        ip6: [],
        bridge: ["ip daddr 10.9.0.2 ip saddr 10.9.0.0/24 tcp dport 80 drop"],
        v6: false,
      },
    ],
    [
      "container egress to one host, any protocol",
      {
        bridge: "pbr-a",
        subnet: "10.9.0.0/24",
        address: "10.9.0.2",
        rules: [{ direction: "egress", action: "deny", cidr: "10.9.0.3" }],
      },
      {
        ip: ["ip saddr 10.9.0.2 ip daddr 10.9.0.3/32 drop"],
        ip6: [],
        bridge: ["ip saddr 10.9.0.2 ip daddr 10.9.0.3/32 drop"],
        v6: false,
      },
    ],
    [
      "network: allow icmp in, deny udp 53 out",
      {
        bridge: "pbr-n",
        subnet: "10.9.5.0/24",
        rules: [
          { direction: "ingress", action: "allow", protocol: "icmp" },
          { direction: "egress", action: "deny", protocol: "udp", port: 53 },
        ],
      },
      {
        ip: ['oifname "pbr-n" meta l4proto icmp accept', 'iifname "pbr-n" udp dport 53 drop'],
        ip6: [],
        bridge: [
          "ip daddr 10.9.5.0/24 meta l4proto icmp accept",
          "ip saddr 10.9.5.0/24 udp dport 53 drop",
        ],
        v6: false,
      },
    ],
    [
      "dual-stack container: no CIDR means both families, a CIDR only its own",
      {
        bridge: "pbr-d",
        subnet: "10.9.6.0/24",
        subnet6: "fd00:6::/64",
        address: "10.9.6.2",
        address6: "fd00:6::2",
        rules: [
          { direction: "egress", action: "deny", cidr: "FD00:6:0::3" },
          { direction: "egress", action: "allow", cidr: "10.9.6.3", protocol: "icmp" },
          { direction: "egress", action: "deny" },
        ],
      },
      {
        ip: [
          "ip saddr 10.9.6.2 ip daddr 10.9.6.3/32 meta l4proto icmp accept",
          "ip saddr 10.9.6.2 drop",
        ],
        ip6: ["ip6 saddr fd00:6::2 ip6 daddr fd00:6::3/128 drop", "ip6 saddr fd00:6::2 drop"],
        bridge: [
          "ip6 saddr fd00:6::2 ip6 daddr fd00:6::3/128 drop",
          "ip saddr 10.9.6.2 ip daddr 10.9.6.3/32 meta l4proto icmp accept",
          "ip saddr 10.9.6.2 drop",
          "ip6 saddr fd00:6::2 drop",
        ],
        v6: true,
      },
    ],
    [
      "dual-stack network: icmp is ICMPv6 for IPv6, ports for both",
      {
        bridge: "pbr-e",
        subnet: "10.9.7.0/24",
        subnet6: "fd00:7::/64",
        rules: [
          { direction: "ingress", action: "deny", protocol: "icmp" },
          { direction: "egress", action: "deny", cidr: "fd00:99::/64", port: 443 },
        ],
      },
      {
        ip: ['oifname "pbr-e" meta l4proto icmp drop'],
        ip6: [
          'oifname "pbr-e" meta l4proto ipv6-icmp drop',
          'iifname "pbr-e" ip6 daddr fd00:99::/64 tcp dport 443 drop',
        ],
        bridge: [
          "ip daddr 10.9.7.0/24 meta l4proto icmp drop",
          "ip6 daddr fd00:7::/64 meta l4proto ipv6-icmp drop",
          "ip6 saddr fd00:7::/64 ip6 daddr fd00:99::/64 tcp dport 443 drop",
        ],
        v6: true,
      },
    ],
    [
      "an IPv6 CIDR on an IPv4-only network matches nothing",
      {
        bridge: "pbr-f",
        subnet: "10.9.8.0/24",
        address: "10.9.8.2",
        rules: [{ direction: "egress", action: "deny", cidr: "fd00::/8" }, {
          direction: "egress",
          action: "deny",
        }],
      },
      { ip: ["ip saddr 10.9.8.2 drop"], ip6: [], bridge: ["ip saddr 10.9.8.2 drop"], v6: false },
    ],
    [
      "with the veths known, bridged IPv6 is matched by port (link-local too), any network",
      {
        bridge: "pbr-g",
        subnet: "10.9.9.0/24",
        address: "10.9.9.2",
        ports: ["pve-1"],
        rules: [
          { direction: "egress", action: "deny" },
          { direction: "ingress", action: "deny", cidr: "fe80::/10", protocol: "icmp" },
        ],
      },
      {
        ip: ["ip saddr 10.9.9.2 drop"],
        ip6: [],
        bridge: [
          "ip saddr 10.9.9.2 drop",
          'meta protocol ip6 iifname "pve-1" drop',
          'meta protocol ip6 oifname "pve-1" ip6 saddr fe80::/10 meta l4proto ipv6-icmp drop',
        ],
        v6: true,
      },
    ],
    [
      "a dual-stack network's rule with its containers' veths",
      {
        bridge: "pbr-h",
        subnet: "10.9.10.0/24",
        subnet6: "fd00:10::/64",
        ports: ["pve-1", "pve-2"],
        rules: [{ direction: "egress", action: "deny", protocol: "udp", port: 53 }],
      },
      {
        ip: ['iifname "pbr-h" udp dport 53 drop'],
        ip6: ['iifname "pbr-h" udp dport 53 drop'],
        bridge: [
          "ip saddr 10.9.10.0/24 udp dport 53 drop",
          'meta protocol ip6 iifname { "pve-1", "pve-2" } udp dport 53 drop',
        ],
        v6: true,
      },
    ],
  ];
  for (const [what, target, want] of cases) assertEquals(compileFirewall(target), want, what);
});

Deno.test("bad firewall rules are refused with the reason", () => {
  const bad: [unknown, RegExp][] = [
    [{ direction: "in", action: "deny" }, /invalid firewall direction "in"/],
    [{ direction: "ingress", action: "block" }, /invalid firewall action "block"/],
    [{ direction: "ingress", action: "deny", protocol: "sctp" }, /invalid firewall protocol/],
    [{ direction: "ingress", action: "deny", port: 0 }, /invalid firewall port 0/],
    [{ direction: "ingress", action: "deny", protocol: "icmp", port: 1 }, /needs protocol tcp/],
    [{ direction: "ingress", action: "deny", cidr: "10.0.0.1/24" }, /host bits/],
    [{ direction: "ingress", action: "deny", cidr: "10.0.0/8" }, /invalid firewall CIDR/],
    [{ direction: "ingress", action: "deny", cidr: "10.0.0.0/33" }, /at most \/32/],
    [{ direction: "ingress", action: "deny", cidr: "fd00::1/64" }, /did you mean fd00::\/64/],
    [{ direction: "ingress", action: "deny", cidr: "fd00::/129" }, /at most \/128/],
    [{ direction: "ingress", action: "deny", cidr: "fd00:::1" }, /invalid firewall CIDR/],
    [{ direction: "ingress", action: "deny", cidr: "fd00::g" }, /IPv4 or IPv6/],
  ];
  for (const [r, re] of bad) throws(() => validateRule(r as never), re);
  const cidr = (c: string) => validateRule({ direction: "egress", action: "deny", cidr: c }).cidr;
  assertEquals(
    ["10.1.2.3", "10.1.0.0/16", "FD00:0:0::1", "fd00:1::/64", "::/0", "0.0.0.0/0"].map(cidr),
    ["10.1.2.3/32", "10.1.0.0/16", "fd00::1/128", "fd00:1::/64", "::/0", "0.0.0.0/0"],
  );
  assertEquals(validateRule({ direction: "egress", action: "allow", port: 443 }), {
    direction: "egress",
    action: "allow",
    port: 443,
    protocol: "tcp",
  });
});
