import { deepStrictEqual as assertEquals, match, throws } from "node:assert/strict";
import { nftTableName, parsePublish } from "./ports.ts";

Deno.test("-p values parse as docker's: host IP, ports, protocol and ranges", () => {
  assertEquals(parsePublish("127.0.0.1:8080:80"), [
    { hostIp: "127.0.0.1", hostPort: 8080, containerPort: 80, protocol: "tcp" },
  ]);
  assertEquals(parsePublish("5353:53/udp"), [
    { hostIp: "", hostPort: 5353, containerPort: 53, protocol: "udp" },
  ]);
  assertEquals(parsePublish("0.0.0.0:8000-8001:80-81").map((m) => [m.hostPort, m.containerPort]), [
    [8000, 80],
    [8001, 81],
  ]);
  throws(() => parsePublish("80"), /expected \[hostIP:\]hostPort:containerPort/);
  throws(() => parsePublish("8080:80/sctp"), /invalid protocol "sctp"/);
  throws(() => parsePublish("70000:80"), /invalid host port "70000"/);
  throws(() => parsePublish("8000-8002:80-81"), /different sizes/);
  throws(() => parsePublish("1.2.3:80:80"), /invalid IPv4/);
});

Deno.test("the nft table name is short, stable and differs per root", () => {
  match(nftTableName("/var/lib/polis"), /^polis_[0-9a-f]{8}$/);
  assertEquals(nftTableName("/a"), nftTableName("/a"));
  throws(() => assertEquals(nftTableName("/a"), nftTableName("/b")));
});
