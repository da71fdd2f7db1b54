/**
 * docker's default: a container run without --network joins the default bridge
 * network, and `-p` publishes its port on the host, so `polis run -d -p 8080:80 IMAGE`
 * just works.
 */

import { deepStrictEqual as assertEquals, match, ok } from "node:assert/strict";
import { defaultBridgeTest, fetchText, freePort } from "./helpers/network.ts";

defaultBridgeTest(
  "run without --network joins the default bridge and -p publishes on 127.0.0.1",
  async (d, net) => {
    const port = freePort();
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
    assertEquals(await fetchText(`http://127.0.0.1:${port}/`), "default-bridge\n");
    const ifaces = await d.ok(["run", "--rm", "busybox", "ls", "/sys/class/net"]);
    match(ifaces, /eth0/);
    await d.ok(["rm", "-f", id]);
  },
);
