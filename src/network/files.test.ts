import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { hostnameFile, hostsFile, resolvConf } from "./files.ts";

Deno.test("hosts file lists localhost, then the container's address with its name", () => {
  const text = hostsFile({ hostname: "web", address: "10.1.0.2", aliases: ["web", "www"] });
  const lines = text.trimEnd().split("\n");
  assertEquals(lines[0], "127.0.0.1\tlocalhost");
  assertEquals(lines.at(-1), "10.1.0.2\tweb www");
  assertEquals(hostsFile({ hostname: "zzbox" }).includes("zzbox"), false);
});

Deno.test("hosts file has a line per network the container is on", () => {
  const text = hostsFile({
    hostname: "web",
    addresses: [{ address: "10.1.0.2", aliases: ["web", "a"] }, { address: "10.2.0.9" }],
  });
  assertEquals(text.trimEnd().split("\n").slice(-2), ["10.1.0.2\tweb a", "10.2.0.9\tweb"]);
});

Deno.test("resolv.conf keeps the host's non-loopback servers, search and options", () => {
  const host =
    "# generated\nnameserver 127.0.0.53\nnameserver 10.0.0.2\nsearch lan\noptions ndots:2\n";
  assertEquals(resolvConf(host), "nameserver 10.0.0.2\nsearch lan\noptions ndots:2\n");
  assertEquals(
    resolvConf(host, { nameservers: ["10.1.0.1"] }),
    "nameserver 10.1.0.1\nsearch lan\noptions ndots:2\n",
  );
  assertEquals(hostnameFile("box"), "box\n");
});

Deno.test("on a dual-stack network the hosts file names the IPv6 address too", () => {
  const text = hostsFile({
    hostname: "web",
    address: "10.1.0.2",
    address6: "fd12::2",
    aliases: ["www"],
  });
  assertEquals(text.trimEnd().split("\n").slice(-2), ["10.1.0.2\tweb www", "fd12::2\tweb www"]);
});
