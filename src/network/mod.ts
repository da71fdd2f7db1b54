/**
 * Container networking: network records and IPAM in SQLite, the files a container sees as
 * /etc/hosts, /etc/hostname and /etc/resolv.conf, and the bridge driver that applies it all
 * over rtnetlink.
 *
 * ```ts
 * const store = new NetworkStore(db);
 * const net = store.create({ name: "app", subnet: "10.232.0.0/24" });
 * const ep = store.allocate(net.id, containerId);
 * await new BridgeDriver().attach(net, ep, `/proc/${initPid}/ns/net`);
 * ```
 * @module
 */
export * from "./cidr.ts";
export * from "./store.ts";
export * from "./files.ts";
export * from "./bridge.ts";
export * from "./ports.ts";
export * from "./redirect.ts";
export * from "./nat.ts";
export * from "./iptables_rules.ts";
export * from "./iptables.ts";
export * from "./firewall.ts";
export * from "./proxy.ts";
export * from "./dns_message.ts";
export * from "./dns_server.ts";
