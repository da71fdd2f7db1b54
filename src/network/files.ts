/**
 * The files a container sees as /etc/hosts, /etc/hostname and /etc/resolv.conf. Pure text
 * builders: the engine writes them under the container's directory and bind-mounts them.
 * @module
 */

export interface HostsEntry {
  address: string;
  names: string[];
}

/**
 * /etc/hosts: localhost lines, extra entries, then the container's own address and name —
 * one line per network it is on, and one more for its IPv6 address on a dual-stack network
 * (`address`/`address6`/`aliases` is the one-network shorthand).
 */
export function hostsFile(opts: {
  hostname: string;
  address?: string;
  address6?: string;
  aliases?: string[];
  addresses?: { address: string; address6?: string; aliases?: string[] }[];
  extra?: HostsEntry[];
}): string {
  const lines = [
    "127.0.0.1\tlocalhost",
    "::1\tlocalhost ip6-localhost ip6-loopback",
    "fe00::0\tip6-localnet",
    "ff00::0\tip6-mcastprefix",
    "ff02::1\tip6-allnodes",
    "ff02::2\tip6-allrouters",
  ];
  for (const e of opts.extra ?? []) lines.push(`${e.address}\t${e.names.join(" ")}`);
  const own = [
    ...(opts.address
      ? [{ address: opts.address, address6: opts.address6, aliases: opts.aliases }]
      : []),
    ...(opts.addresses ?? []),
  ];
  for (const o of own) {
    const names = [opts.hostname, ...(o.aliases ?? [])].filter((n, i, all) =>
      n && all.indexOf(n) === i
    );
    lines.push(`${o.address}\t${names.join(" ")}`);
    if (o.address6) lines.push(`${o.address6}\t${names.join(" ")}`);
  }
  return lines.join("\n") + "\n";
}

export function hostnameFile(hostname: string): string {
  return `${hostname}\n`;
}

/**
 * /etc/resolv.conf from the host's: its search and options lines, and its nameservers except
 * loopback ones (they mean the host's own resolver, unreachable from a network namespace).
 * `nameservers` replaces the host's servers when given (e.g. `--dns`, or the embedded DNS).
 */
export function resolvConf(hostText: string, opts: { nameservers?: string[] } = {}): string {
  const out: string[] = [];
  const servers: string[] = [];
  for (const raw of hostText.split("\n")) {
    const line = raw.trim();
    const [key, ...rest] = line.split(/\s+/);
    if (key === "nameserver" && rest[0]) {
      if (!/^127\./.test(rest[0]) && rest[0] !== "::1") servers.push(rest[0]);
    } else if (key === "search" || key === "domain" || key === "options") {
      out.push(line);
    }
  }
  const chosen = opts.nameservers ?? servers;
  return [...chosen.map((s) => `nameserver ${s}`), ...out].join("\n") + "\n";
}
