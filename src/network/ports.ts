/**
 * Published ports: docker's `-p [hostIP:]hostPort:containerPort[/tcp|udp]` syntax, and their
 * DNAT in the kernel through nftables, in one table this daemon owns (`ip polis_<hash>`).
 * Mappings are elements of nft maps, so adding or removing a container's ports never touches a
 * rule, and the table goes when its last mapping does. The host's other tables and default
 * policies are never touched.
 * @module
 */

import { PolisError } from "../core/mod.ts";
import { ipToInt } from "./cidr.ts";

export interface PortMapping {
  /** "" = every local address. */
  hostIp: string;
  hostPort: number;
  containerPort: number;
  protocol: "tcp" | "udp";
}

function port(text: string, what: string, spec: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > 65535) {
    throw PolisError.invalid(`invalid ${what} "${text}" in port mapping "${spec}"`);
  }
  return n;
}

/** Parses one `-p` value; ranges ("8000-8002:80-82") expand to one mapping per port. */
export function parsePublish(spec: string): PortMapping[] {
  let rest = spec;
  let protocol: "tcp" | "udp" = "tcp";
  const slash = rest.lastIndexOf("/");
  if (slash >= 0) {
    const p = rest.slice(slash + 1);
    if (p !== "tcp" && p !== "udp") {
      throw PolisError.invalid(`invalid protocol "${p}" in port mapping "${spec}": use tcp or udp`);
    }
    protocol = p;
    rest = rest.slice(0, slash);
  }
  const parts = rest.split(":");
  if (parts.length < 2 || parts.length > 3) {
    throw PolisError.invalid(
      `invalid port mapping "${spec}": expected [hostIP:]hostPort:containerPort[/tcp|udp]`,
    );
  }
  const hostIp = parts.length === 3 ? parts[0] : "";
  if (hostIp !== "" && hostIp !== "0.0.0.0") ipToInt(hostIp);
  const range = (t: string, what: string): [number, number] => {
    const [a, b] = t.split("-");
    const lo = port(a, what, spec);
    const hi = b === undefined ? lo : port(b, what, spec);
    if (hi < lo) throw PolisError.invalid(`invalid ${what} range "${t}" in "${spec}"`);
    return [lo, hi];
  };
  const [h0, h1] = range(parts.at(-2)!, "host port");
  const [c0, c1] = range(parts.at(-1)!, "container port");
  if (h1 - h0 !== c1 - c0) {
    throw PolisError.invalid(`port ranges of different sizes in "${spec}"`);
  }
  return Array.from({ length: h1 - h0 + 1 }, (_, i) => ({
    hostIp: hostIp === "0.0.0.0" ? "" : hostIp,
    hostPort: h0 + i,
    containerPort: c0 + i,
    protocol,
  }));
}

/** A short stable name for this daemon's table, from its root directory. */
export function nftTableName(root: string): string {
  let h = 0x811c9dc5;
  for (const c of new TextEncoder().encode(root)) h = Math.imul(h ^ c, 0x01000193) >>> 0;
  return `polis_${h.toString(16).padStart(8, "0")}`;
}

/** Runs an nft script (atomically: one transaction); never throws. */
export function nft(script: string): { ok: boolean; err: string } {
  const file = Deno.makeTempFileSync({ prefix: "polis-nft-" });
  try {
    Deno.writeTextFileSync(file, script);
    const out = new Deno.Command("nft", { args: ["-f", file], stdout: "null", stderr: "piped" })
      .outputSync();
    return { ok: out.success, err: new TextDecoder().decode(out.stderr).trim() };
  } catch (e) {
    return {
      ok: false,
      err: e instanceof Deno.errors.NotFound ? "nft is not installed" : String(e),
    };
  } finally {
    Deno.removeSync(file);
  }
}

function element(m: PortMapping, containerIp: string, withValue: boolean): string {
  const value = withValue ? ` : ${containerIp} . ${m.containerPort}` : "";
  return m.hostIp ? `${m.hostIp} . ${m.hostPort}${value}` : `${m.hostPort}${value}`;
}

function mapOf(m: PortMapping): string {
  return `${m.protocol}_${m.hostIp ? "addr" : "any"}`;
}

/** Published ports in the kernel (nft or iptables). */
export interface PortRules {
  /** Publishes `ports` to `containerIp`; a host port already published is a conflict. */
  add(ports: PortMapping[], containerIp: string): void;
  /** Unpublishes `ports` that lead to `containerIp`. */
  remove(ports: PortMapping[], containerIp: string): void;
}

/**
 * DNAT of published ports in table `ip <table>`.
 *
 * Cost, measured against the same container reached at its own address (1 MiB GETs, wrk, a
 * 2-core VM; see benchNetwork in scripts/bench.ts): the rules here run on a connection's first
 * packet only (nat chains), so their shape (fib checks, maps, masquerade) costs nothing
 * measurable, even with one connection per request. What the published path pays is per packet,
 * in the kernel: every packet of a NATed connection is rewritten twice (DNAT + masquerade), and
 * the client's packets are re-routed after the output DNAT (ip_route_me_harder), about 5-8% more
 * CPU per byte. The larger loss, with clients that read in small chunks (wrk: 8 KiB), is TCP's:
 * a socket connected to 127.0.0.1 takes lo's MTU (65536) as its own, and its receive-buffer
 * autotuning starts from 10 × that MSS, a threshold a 64 KiB window never crosses; its window
 * stays at 64 KiB where the same client talking to the container's address (MTU 1500) grows to
 * about 1 MiB, and it sends ~40% more ACKs (1887 µs of CPU per request against 1559 direct;
 * the same wrk with TCP_MAXSEG 1448 set before connect: 1651). Nothing in netfilter reaches that
 * socket; the host's own loopback connections therefore also get a connect-time redirect
 * (redirect.ts), with these rules kept as the path for everything else. Tried and left out: stripping TCP timestamps from the SYN (no change). An nft
 * flowtable cannot help: it accelerates forwarded flows, and loopback-originated ones are not
 * forwarded (nor is CONFIG_NF_FLOW_TABLE in every kernel).
 */
export class NftPorts implements PortRules {
  constructor(readonly table: string) {}

  #script(): string {
    const t = `ip ${this.table}`;
    const lines = [`add table ${t}`];
    for (const p of ["tcp", "udp"]) {
      lines.push(
        `add map ${t} ${p}_addr { type ipv4_addr . inet_service : ipv4_addr . inet_service; }`,
        `add map ${t} ${p}_any { type inet_service : ipv4_addr . inet_service; }`,
      );
    }
    lines.push(
      `add chain ${t} prerouting { type nat hook prerouting priority dstnat; policy accept; }`,
      `add chain ${t} output { type nat hook output priority -100; policy accept; }`,
      `add chain ${t} postrouting { type nat hook postrouting priority srcnat; policy accept; }`,
    );
    for (const chain of ["prerouting", "output"]) {
      for (const p of ["tcp", "udp"]) {
        lines.push(
          `add rule ${t} ${chain} fib daddr type local dnat ip to ip daddr . ${p} dport map @${p}_addr`,
          `add rule ${t} ${chain} fib daddr type local dnat ip to ${p} dport map @${p}_any`,
        );
      }
    }
    // Connections from the host's loopback leave with the bridge's address.
    lines.push(`add rule ${t} postrouting ip saddr 127.0.0.0/8 ct status dnat masquerade`);
    return lines.join("\n") + "\n";
  }

  #exists(): boolean {
    const out = new Deno.Command("nft", {
      args: ["list", "table", "ip", this.table],
      stdout: "null",
      stderr: "null",
    }).outputSync();
    return out.success;
  }

  /** Publishes `ports` to `containerIp`; refuses a host port already published. */
  add(ports: PortMapping[], containerIp: string): void {
    if (!ports.length) return;
    if (!this.#exists()) {
      const r = nft(this.#script());
      if (!r.ok) throw PolisError.internal(`nftables: cannot create table ${this.table}: ${r.err}`);
    }
    const t = `ip ${this.table}`;
    const script = ports.map((m) =>
      `add element ${t} ${mapOf(m)} { ${element(m, containerIp, true)} }`
    )
      .join("\n");
    // "add element" of an existing key fails only with "create"; use it to refuse clashes.
    const r = nft(script.replaceAll("add element", "create element") + "\n");
    if (!r.ok) {
      if (/exists/i.test(r.err)) {
        const shown = ports.map((m) => `${m.hostIp || "0.0.0.0"}:${m.hostPort}/${m.protocol}`);
        throw PolisError.conflict(`port is already allocated: ${shown.join(", ")}`);
      }
      throw PolisError.internal(`nftables: cannot publish ports: ${r.err}`);
    }
  }

  /**
   * Unpublishes `ports` of the container at `containerIp` (a mapping now pointing elsewhere,
   * i.e. another container's, is left alone); drops the table when it is empty.
   */
  remove(ports: PortMapping[], containerIp: string): void {
    if (!ports.length || !this.#exists()) return;
    const t = `ip ${this.table}`;
    for (const m of ports) {
      const got = new Deno.Command("nft", {
        args: ["get", "element", "ip", this.table, mapOf(m), `{ ${element(m, "", false)} }`],
        stderr: "null",
      }).outputSync();
      const text = new TextDecoder().decode(got.stdout);
      if (!got.success || !text.includes(`: ${containerIp} . ${m.containerPort}`)) continue;
      nft(`delete element ${t} ${mapOf(m)} { ${element(m, "", false)} }\n`);
    }
    const out = new Deno.Command("nft", { args: ["list", "table", "ip", this.table] }).outputSync();
    if (out.success && !new TextDecoder().decode(out.stdout).includes("elements =")) {
      nft(`delete table ${t}\n`);
    }
  }
}

/** Lets connections from 127.0.0.1 be routed to containers on `bridge` (see postrouting). */
export function allowLocalnet(bridge: string): void {
  Deno.writeTextFileSync(`/proc/sys/net/ipv4/conf/${bridge}/route_localnet`, "1");
}
