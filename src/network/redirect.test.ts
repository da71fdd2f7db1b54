import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { cgroup2Mount, redirectKey } from "./redirect.ts";
import type { PortMapping } from "./ports.ts";

const m = (hostIp: string, protocol: "tcp" | "udp" = "tcp"): PortMapping => ({
  hostIp,
  hostPort: 8080,
  containerPort: 80,
  protocol,
});

Deno.test("only loopback TCP mappings are redirected; every-address ones on 127.0.0.1", () => {
  assertEquals(redirectKey(m("")), ["127.0.0.1", 8080]);
  assertEquals(redirectKey(m("127.0.0.2")), ["127.0.0.2", 8080]);
  assertEquals(redirectKey(m("192.0.2.7")), undefined);
  assertEquals(redirectKey(m("", "udp")), undefined);
});

Deno.test("the cgroup2 mount is read from mountinfo, hybrid layout included", () => {
  const f = Deno.makeTempFileSync();
  try {
    Deno.writeTextFileSync(
      f,
      [
        "30 24 0:26 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755",
        "31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid,relatime shared:10 - cgroup2 cgroup2 rw",
        "32 30 0:28 / /sys/fs/cgroup/cpu rw shared:11 - cgroup cgroup rw,cpu",
      ].join("\n"),
    );
    assertEquals(cgroup2Mount(f), "/sys/fs/cgroup/unified");
    Deno.writeTextFileSync(f, "30 24 0:26 / /sys/fs/cgroup ro - tmpfs tmpfs ro\n");
    assertEquals(cgroup2Mount(f), undefined);
  } finally {
    Deno.removeSync(f);
  }
});
