import { deepStrictEqual as assertEquals, rejects } from "node:assert/strict";
import dgram from "node:dgram";
import { PortProxy } from "./proxy.ts";

const free = () => 20000 + Math.floor(Math.random() * 20000);

Deno.test("the userland proxy relays TCP both ways, including half-close (loopback only)", async () => {
  const backend = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const served = (async () => {
    const c = await backend.accept();
    const buf = new Uint8Array(100);
    let text = "";
    for (;;) {
      const n = await c.read(buf);
      if (n === null) break;
      text += new TextDecoder().decode(buf.subarray(0, n));
    }
    await c.write(new TextEncoder().encode(`echo:${text}`));
    c.close();
  })();
  const proxy = new PortProxy();
  const hostPort = free();
  const m = {
    hostIp: "127.0.0.1",
    hostPort,
    containerPort: backend.addr.port,
    protocol: "tcp" as const,
  };
  try {
    await proxy.add([m], "127.0.0.1");
    await rejects(proxy.add([m], "127.0.0.1"), /already allocated/);
    const c = await Deno.connect({ hostname: "127.0.0.1", port: hostPort });
    await c.write(new TextEncoder().encode("hi"));
    await c.closeWrite();
    const got = new TextDecoder().decode(await new Response(c.readable).arrayBuffer());
    assertEquals(got, "echo:hi");
    await served;
    assertEquals(Object.keys(proxy.list()), [`tcp/127.0.0.1:${hostPort}`]);
  } finally {
    proxy.remove([m], "127.0.0.1");
    proxy.close();
    backend.close();
  }
  assertEquals(proxy.list(), {});
});

Deno.test("the userland proxy relays UDP datagrams and their replies", async () => {
  const backend = dgram.createSocket("udp4");
  await new Promise<void>((r) => backend.bind(0, "127.0.0.1", () => r()));
  backend.on("message", (msg, from) => backend.send(`re:${msg}`, from.port, from.address));
  const proxy = new PortProxy();
  const hostPort = free();
  const m = {
    hostIp: "127.0.0.1",
    hostPort,
    containerPort: backend.address().port,
    protocol: "udp" as const,
  };
  const client = dgram.createSocket("udp4");
  try {
    await proxy.add([m], "127.0.0.1");
    const reply = await new Promise<string>((resolve) => {
      client.on("message", (r) => resolve(String(r)));
      client.send("ping", hostPort, "127.0.0.1");
    });
    assertEquals(reply, "re:ping");
  } finally {
    client.close();
    proxy.close();
    backend.close();
  }
});
