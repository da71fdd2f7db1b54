import { deepStrictEqual as assertEquals, throws } from "node:assert/strict";
import { parseArgs, UsageError } from "../flags.ts";
import { parseFirewallFlag, RULE_FLAGS, ruleFromFlags } from "./firewall.ts";

function rule(argv: string[]) {
  return ruleFromFlags(parseArgs({ usage: "", summary: "", flags: RULE_FLAGS }, argv));
}

Deno.test("firewall flags make the API's rule; port and proto are checked together", () => {
  assertEquals(rule(["--direction", "egress", "--action", "deny"]), {
    direction: "egress",
    action: "deny",
  });
  assertEquals(
    rule([
      "--direction=ingress",
      "--action=allow",
      "--cidr=10.1.0.0/16",
      "--port=80",
      "--proto=udp",
    ]),
    { direction: "ingress", action: "allow", cidr: "10.1.0.0/16", port: 80, protocol: "udp" },
  );
});

Deno.test("firewall flag mistakes are usage errors naming the flag", () => {
  const cases: [string[], RegExp][] = [
    [["--action", "deny"], /--direction" is required/],
    [["--direction", "in", "--action", "deny"], /"in" for "--direction"/],
    [["--direction", "egress"], /--action" is required/],
    [["--direction", "egress", "--action", "drop"], /"drop" for "--action"/],
    [["--direction", "egress", "--action", "deny", "--cidr", "10.0.0.300"], /--cidr/],
    [["--direction", "egress", "--action", "deny", "--cidr", "10.0.0.0/33"], /--cidr/],
    [["--direction", "egress", "--action", "deny", "--port", "0"], /--port/],
    [["--direction", "egress", "--action", "deny", "--port", "80-90"], /ranges/],
    [["--direction", "egress", "--action", "deny", "--proto", "sctp"], /--proto/],
    [
      ["--direction", "egress", "--action", "deny", "--port", "53", "--proto", "icmp"],
      /tcp or udp/,
    ],
  ];
  for (const [argv, msg] of cases) {
    throws(() => rule(argv), (e: Error) => e instanceof UsageError && msg.test(e.message));
  }
});

Deno.test("--firewall takes the same rule as comma-separated words and key=value", () => {
  assertEquals(parseFirewallFlag("egress,deny,cidr=10.1.0.0/16,proto=tcp,port=80"), {
    direction: "egress",
    action: "deny",
    cidr: "10.1.0.0/16",
    port: 80,
    protocol: "tcp",
  });
  assertEquals(parseFirewallFlag("direction=ingress,action=allow"), {
    direction: "ingress",
    action: "allow",
  });
  const cases: [string, RegExp][] = [
    ["egress", /"egress" for "--firewall" flag: action is required/],
    ["deny", /direction is required/],
    ["egress,drop", /unknown word "drop"/],
    ["egress,deny,host=1.2.3.4", /unknown key "host"/],
    ["egress,deny,ingress", /direction given twice/],
    ["egress,deny,port=99999", /port: expected 1-65535/],
  ];
  for (const [raw, msg] of cases) {
    throws(
      () => parseFirewallFlag(raw),
      (e: Error) => e instanceof UsageError && msg.test(e.message),
    );
  }
});
