import { deepStrictEqual as assertEquals } from "node:assert/strict";
import dgram from "node:dgram";
import { decodeQuery, encodeResponse, RCODE_NOERROR } from "./dns_message.ts";
import { DnsServer } from "./dns_server.ts";

function query(name: string, type = 1): Uint8Array {
  const q = encodeResponse({ id: 0x4242, flags: 0x0100, questions: [{ name, type, class: 1 }] }, {
    rcode: RCODE_NOERROR,
  });
  q[2] = 0x01; // a query with RD
  q[3] = 0;
  return q;
}

const rcode = (m: Uint8Array | undefined) => m ? m[3] & 0xf : -1;
const answers = (m: Uint8Array | undefined) => m ? (m[6] << 8) | m[7] : -1;

const names: Record<string, string[]> = { web: ["10.9.0.2"], db: ["10.9.0.3", "10.9.0.4"] };
const lookup = (n: string) => names[n];

Deno.test("known names get A records with authority; other types an empty answer", async () => {
  const s = new DnsServer({ address: "127.0.0.1", lookup });
  const a = await s.answer(query("DB"));
  assertEquals([rcode(a), answers(a), (a![2] & 0x04) !== 0], [0, 2, true]);
  assertEquals(Array.from(a!.subarray(-4)), [10, 9, 0, 4]);
  const aaaa = await s.answer(query("web", 28));
  assertEquals([rcode(aaaa), answers(aaaa)], [0, 0]);
});

Deno.test("a dual-stack name gets AAAA for AAAA, A for A, and both for ANY", async () => {
  const s = new DnsServer({
    address: "127.0.0.1",
    lookup: (n) => n === "v6" ? ["10.9.0.5", "fd12:3456::5"] : undefined,
  });
  const aaaa = (await s.answer(query("v6", 28)))!;
  assertEquals([rcode(aaaa), answers(aaaa)], [0, 1]);
  // TYPE AAAA, CLASS IN, ttl, RDLENGTH 16, then the address.
  const rr = aaaa.subarray(-26);
  assertEquals([(rr[0] << 8) | rr[1], (rr[8] << 8) | rr[9]], [28, 16]);
  assertEquals(
    Array.from(rr.subarray(10), (b) => b.toString(16).padStart(2, "0")).join(""),
    "fd123456000000000000000000000005",
  );
  const a = (await s.answer(query("v6", 1)))!;
  assertEquals([answers(a), Array.from(a.subarray(-4))], [1, [10, 9, 0, 5]]);
  assertEquals(answers(await s.answer(query("v6", 255))), 2);
});

Deno.test("unknown names are REFUSED without upstreams; garbage gets FORMERR", async () => {
  const s = new DnsServer({ address: "127.0.0.1", lookup });
  assertEquals(rcode(await s.answer(query("example.org"))), 5);
  assertEquals(rcode(await s.answer(new Uint8Array([1, 2, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 9]))), 1);
  assertEquals(await s.answer(new Uint8Array([1])), undefined);
});

Deno.test("with an upstream (on loopback) unknown names are relayed; silence is SERVFAIL", async () => {
  const upstream = dgram.createSocket("udp4");
  await new Promise<void>((r) => upstream.bind(0, "127.0.0.1", () => r()));
  upstream.on("message", (m, from) => {
    const q = decodeQuery(new Uint8Array(m));
    if (q.questions[0].name === "silent.test") return;
    const reply = encodeResponse(q, {
      rcode: RCODE_NOERROR,
      recursion: true,
      answers: [{ name: q.questions[0].name, ttl: 5, address: "192.0.2.7" }],
    });
    upstream.send(reply, from.port, from.address);
  });
  try {
    const s = new DnsServer({
      address: "127.0.0.1",
      lookup,
      upstream: [`127.0.0.1:${upstream.address().port}`],
      upstreamTimeoutMs: 300,
    });
    const r = await s.answer(query("example.org"));
    assertEquals([rcode(r), answers(r), Array.from(r!.subarray(-4))], [0, 1, [192, 0, 2, 7]]);
    assertEquals(rcode(await s.answer(query("silent.test"))), 2);
    // Own names never go upstream.
    assertEquals(Array.from((await s.answer(query("web")))!.subarray(-4)), [10, 9, 0, 2]);
  } finally {
    upstream.close();
  }
});

Deno.test("the server answers over UDP and TCP on its address", async () => {
  const s = new DnsServer({
    address: "127.0.0.1",
    port: 20000 + Math.floor(Math.random() * 20000),
    lookup,
  });
  await s.start();
  try {
    const c = dgram.createSocket("udp4");
    const udp = await new Promise<Uint8Array>((resolve) => {
      c.on("message", (m) => resolve(new Uint8Array(m)));
      c.send(query("web"), s.port, "127.0.0.1");
    });
    c.close();
    assertEquals(Array.from(udp.subarray(-4)), [10, 9, 0, 2]);
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: s.port });
    const q = query("db");
    // Two queries in one write: both are answered, in order.
    await conn.write(new Uint8Array([0, q.length, ...q, 0, q.length, ...q]));
    const buf = new Uint8Array(1024);
    let got = 0;
    const need = () => {
      if (got < 2) return true;
      const first = 2 + ((buf[0] << 8) | buf[1]);
      if (got < first + 2) return true;
      return got < first + 2 + ((buf[first] << 8) | buf[first + 1]);
    };
    while (need()) {
      const n = await conn.read(buf.subarray(got));
      if (n === null) break;
      got += n;
    }
    conn.close();
    const len = (buf[0] << 8) | buf[1];
    assertEquals(answers(buf.subarray(2, 2 + len)), 2);
    assertEquals(answers(buf.subarray(4 + len)), 2);
  } finally {
    s.close();
  }
});
