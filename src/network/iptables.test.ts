import { deepStrictEqual as assertEquals, ok, throws } from "node:assert/strict";
import { chooseFirewallBackend, IptablesRules, type IptablesRunner } from "./iptables.ts";
import { parsePublish } from "./ports.ts";

const P = "POLIS-1a2b3c4d";

/**
 * A fake iptables: remembers the restore inputs (IPv4 in `restores`, IPv6 in `restores6`);
 * `<family>-save` shows `saved[table]` (IPv4) and the chains the restores declared and did not
 * delete.
 */
function fake(saved: Record<string, string> = {}) {
  const restores: string[] = [];
  const restores6: string[] = [];
  const chains = { iptables: new Set<string>(), ip6tables: new Set<string>() };
  const runner: IptablesRunner = (tool, args) => {
    const [family, verb] = tool.split("-") as ["iptables" | "ip6tables", string];
    if (verb === "save") {
      const mine = [...chains[family]].map((c) => `:${c} - [0:0]`).join("\n");
      const base = family === "iptables" ? saved[args[1]] ?? "" : "";
      return { ok: true, out: `${base}\n${mine}`, err: "" };
    }
    const script = Deno.readTextFileSync(args.at(-1)!);
    (family === "iptables" ? restores : restores6).push(script);
    for (const l of script.split("\n")) {
      if (l.startsWith(":")) chains[family].add(l.slice(1).split(" ")[0]);
      if (l.startsWith("-X ")) chains[family].delete(l.slice(3));
    }
    return { ok: true, out: "", err: "" };
  };
  return { runner, restores, restores6 };
}

Deno.test("a restarted daemon takes over the published ports its predecessor left", () => {
  const f = fake({
    nat: [
      `:${P}-DNAT - [0:0]`,
      `-A ${P}-DNAT -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.9.1.2:80`,
    ].join("\n"),
  });
  const r = new IptablesRules(P, f.runner);
  // The same container again is fine; another one on that port is refused.
  r.add(parsePublish("8080:80"), "10.9.1.2");
  assertEquals(f.restores.length, 0);
  throws(
    () => r.add(parsePublish("8080:80"), "10.9.1.3"),
    /port is already allocated: 0.0.0.0:8080\/tcp/,
  );
  r.sync([], { egress: true });
  ok(f.restores[0].includes("--to-destination 10.9.1.2:80"), f.restores[0]);
});

Deno.test("ports: another container's mapping is not removed; the last one removes the chains", () => {
  const f = fake();
  const r = new IptablesRules(P, f.runner);
  r.add(parsePublish("8080:80"), "10.9.1.2");
  r.remove(parsePublish("8080:80"), "10.9.1.9");
  assertEquals(f.restores.length, 1);
  r.add(parsePublish("127.0.0.1:8080:80"), "10.9.1.3");
  ok(f.restores[1].includes("-d 127.0.0.1/32 -p tcp"), "an address-bound mapping is separate");
  r.remove(parsePublish("8080:80"), "10.9.1.2");
  r.remove(parsePublish("127.0.0.1:8080:80"), "10.9.1.3");
  assertEquals(f.restores.length, 4);
  ok(!f.restores[3].includes("DNAT --to"), f.restores[3]);
  ok(f.restores[3].includes(`-X ${P}-DNAT`), f.restores[3]);
});

Deno.test("a sync that changes nothing writes nothing; a failed write keeps the old state", () => {
  const f = fake();
  const r = new IptablesRules(P, f.runner);
  const nets = [{ bridge: "pbr-a", subnet: "10.9.1.0/24", internal: false }];
  r.sync(nets, { egress: true });
  r.sync(nets, { egress: true });
  assertEquals(f.restores.length, 1);
  const broken = new IptablesRules(
    P,
    (tool) =>
      tool === "iptables-save"
        ? { ok: true, out: "", err: "" }
        : { ok: false, out: "", err: "iptables-restore: line 3 failed" },
  );
  throws(
    () => broken.sync(nets, { egress: true }),
    /cannot write chains POLIS-1a2b3c4d-\*.*line 3/,
  );
  throws(() => broken.add(parsePublish("80:80"), "10.9.1.2"), /line 3/);
});

Deno.test("backend choice: auto prefers nft, then iptables, then the proxy; explicit ones are checked", () => {
  const has = (nft: boolean, iptables: boolean) => ({ nft: () => nft, iptables: () => iptables });
  assertEquals(chooseFirewallBackend("auto", has(true, true)), "nft");
  assertEquals(chooseFirewallBackend("auto", has(false, true)), "iptables");
  assertEquals(chooseFirewallBackend("auto", has(false, false)), "proxy");
  assertEquals(chooseFirewallBackend("iptables", has(true, true)), "iptables");
  assertEquals(chooseFirewallBackend("proxy", has(true, true)), "proxy");
  throws(
    () => chooseFirewallBackend("iptables", has(true, false)),
    /iptables tools are not installed/,
  );
  throws(() => chooseFirewallBackend("pf", has(true, true)), /invalid firewall backend "pf"/);
});

Deno.test("a dual-stack network is isolated with ip6tables too, in the filter table only", () => {
  const f = fake();
  const r = new IptablesRules(P, f.runner);
  const v4 = { bridge: "pbr-a", subnet: "10.9.1.0/24", internal: false };
  const v6 = { bridge: "pbr-b", subnet: "10.9.2.0/24", internal: false, subnet6: "fd00:1::/64" };
  r.sync([v4], { egress: true });
  assertEquals(f.restores6.length, 0, "no IPv6 network: nothing for ip6tables");
  r.sync([v4, v6], { egress: true });
  assertEquals(f.restores6.length, 1);
  const s6 = f.restores6[0];
  ok(s6.startsWith(`*filter\n:${P}-FWD - [0:0]\n-I FORWARD 1 -j ${P}-FWD\n`), s6);
  ok(s6.includes(`-A ${P}-FWD -i pbr-a -o pbr-b -j DROP`), s6);
  ok(!s6.includes("*nat") && !s6.includes("MASQUERADE"), s6);
  r.sync([v4], { egress: true });
  assertEquals(f.restores6.length, 2);
  ok(f.restores6[1].includes(`-X ${P}-FWD`), f.restores6[1]);
});
