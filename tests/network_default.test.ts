/**
 * docker's default: a container run without --network joins the default bridge
 * network, and `-p` publishes its port on the host, so `polis run -d -p 8080:80 IMAGE`
 * just works.
 */

import { deepStrictEqual as assertEquals, match, ok } from "node:assert/strict";
import { allocTestBridge, isRoot, TestDaemon } from "./helpers/daemon.ts";
import { busyboxImages } from "./helpers/image.ts";

Deno.test({
  name: "run without --network joins the default bridge and -p publishes on 127.0.0.1",
  ignore: !isRoot,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const net = allocTestBridge();
    const d = new TestDaemon("netdefault", undefined, {
      defaultNetwork: "bridge",
      bridge: net.bridge,
      bridgeSubnet: net.subnet,
    });
    try {
      await d.start();
      await d.ok(["load", "-i", (await busyboxImages()).dockerArchive]);
      const port = 20000 + Math.floor(Math.random() * 10000);
      const id = (await d.ok([
        "run",
        "-d",
        "-p",
        `127.0.0.1:${port}:80`,
        "busybox",
        "sh",
        "-c",
        "mkdir -p /www && echo default-bridge > /www/index.html && exec httpd -f -p 80 -h /www",
      ])).trim();
      const [c] = JSON.parse(await d.ok(["inspect", id]));
      assertEquals(c.HostConfig.NetworkMode, "bridge");
      const ip: string = c.NetworkSettings.Networks.bridge.IPAddress;
      ok(ip.startsWith(net.subnet.split(".").slice(0, 3).join(".") + "."), ip);
      let body = "";
      for (let i = 0; i < 50 && !body; i++) {
        try {
          body = await (await fetch(`http://127.0.0.1:${port}/`)).text();
        } catch {
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      assertEquals(body, "default-bridge\n");
      const ifaces = await d.ok(["run", "--rm", "busybox", "ls", "/sys/class/net"]);
      match(ifaces, /eth0/);
      await d.ok(["rm", "-f", id]);
    } finally {
      await d.cleanup();
      // The default bridge belongs to this daemon's root; remove it like `network rm` would.
      await new Deno.Command("ip", { args: ["link", "del", net.bridge], stderr: "null" }).output();
      net.release();
    }
  },
});
