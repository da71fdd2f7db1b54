import { deepStrictEqual as assertEquals, throws } from "node:assert/strict";
import { compileFirewall, validateRule } from "./firewall.ts";

Deno.test("firewall rules compile per container and per network, for ip and bridge", () => {
  const cases: [
    string,
    Parameters<typeof compileFirewall>[0],
    { ip: string[]; bridge: string[] },
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
        bridge: ["ip daddr 10.9.0.2 ip saddr 10.9.0.0/24 tcp dport 80 drop"],
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
        bridge: ["ip saddr 10.9.0.2 ip daddr 10.9.0.3/32 drop"],
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
        bridge: [
          "ip daddr 10.9.5.0/24 meta l4proto icmp accept",
          "ip saddr 10.9.5.0/24 udp dport 53 drop",
        ],
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
    [{ direction: "ingress", action: "deny", cidr: "10.0.0/8" }, /invalid/],
  ];
  for (const [r, re] of bad) throws(() => validateRule(r as never), re);
  assertEquals(validateRule({ direction: "egress", action: "allow", port: 443 }), {
    direction: "egress",
    action: "allow",
    port: 443,
    protocol: "tcp",
  });
});
