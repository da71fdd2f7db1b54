import { deepStrictEqual as assertEquals, throws } from "node:assert/strict";
import {
  decodeQuery,
  DnsFormatError,
  encodeName,
  encodeResponse,
  formatError,
  RCODE_NOERROR,
  RCODE_REFUSED,
  readName,
  TYPE_A,
  TYPE_AAAA,
} from "./dns_message.ts";

const hex = (s: string) =>
  new Uint8Array(s.replace(/\s+/g, "").match(/../g)!.map((b) => parseInt(b, 16)));
const toHex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

// "web.app" A IN, id 0x1234, RD set — as a stub resolver sends it.
const QUERY_A = hex("1234 0100 0001 0000 0000 0000 03 776562 03 617070 00 0001 0001");

Deno.test("queries decode: id, flags and questions, names lower-cased", () => {
  const cases: [string, Uint8Array, ReturnType<typeof decodeQuery>][] = [
    ["A", QUERY_A, {
      id: 0x1234,
      flags: 0x0100,
      questions: [{ name: "web.app", type: 1, class: 1 }],
    }],
    [
      "AAAA, upper case",
      hex("beef 0000 0001 0000 0000 0000 03 574542 00 001c 0001"),
      { id: 0xbeef, flags: 0, questions: [{ name: "web", type: 28, class: 1 }] },
    ],
    [
      "two questions, the second compressed onto the first",
      hex("0001 0100 0002 0000 0000 0000 01 61 00 0001 0001 c00c 001c 0001"),
      {
        id: 1,
        flags: 0x100,
        questions: [{ name: "a", type: 1, class: 1 }, { name: "a", type: 28, class: 1 }],
      },
    ],
    ["root", hex("0002 0000 0001 0000 0000 0000 00 0002 0001"), {
      id: 2,
      flags: 0,
      questions: [{ name: "", type: 2, class: 1 }],
    }],
  ];
  for (const [what, bytes, want] of cases) assertEquals(decodeQuery(bytes), want, what);
});

Deno.test("malformed messages are refused with a format error", () => {
  const bad: [string, Uint8Array, RegExp][] = [
    ["short header", hex("1234 0100 0001"), /shorter than its header/],
    ["a response", hex("1234 8100 0000 0000 0000 0000"), /QR is set/],
    ["label past the end", hex("1234 0100 0001 0000 0000 0000 05 6162"), /past the message/],
    ["pointer loop", hex("1234 0100 0001 0000 0000 0000 c00c 0001 0001"), /loop/],
    ["no type/class", hex("1234 0100 0001 0000 0000 0000 01 61 00 00"), /question runs past/],
  ];
  for (const [what, bytes, re] of bad) throws(() => decodeQuery(bytes), re, what);
  throws(() => readName(hex("40 61"), 0), DnsFormatError);
  assertEquals(
    toHex(formatError(hex("1234 0100 0001 0000 0000 0000 05"))!),
    "123481010000000000000000",
  );
  assertEquals(formatError(hex("12")), undefined);
});

Deno.test("an A answer points at the question's name and carries the address", () => {
  const q = decodeQuery(QUERY_A);
  const out = encodeResponse(q, {
    rcode: RCODE_NOERROR,
    authoritative: true,
    answers: [{ name: "web.app", ttl: 600, address: "10.232.0.2" }],
  });
  assertEquals(
    toHex(out),
    "1234 8500 0001 0001 0000 0000 03776562 03617070 00 0001 0001".replace(/ /g, "") +
      "c00c 0001 0001 00000258 0004 0ae80002".replace(/ /g, ""),
  );
});

Deno.test("REFUSED and empty answers echo the question; other names are written in full", () => {
  const q = decodeQuery(QUERY_A);
  assertEquals(
    toHex(encodeResponse(q, { rcode: RCODE_REFUSED, recursion: true })),
    "123481850001000000000000037765620361707000" + "00010001",
  );
  const other = encodeResponse({ ...q, questions: [{ name: "x", type: TYPE_AAAA, class: 1 }] }, {
    rcode: RCODE_NOERROR,
    answers: [{ name: "y", ttl: 1, address: "1.2.3.4" }],
  });
  assertEquals(
    toHex(other),
    "1234810000010001000000000178000" + "01c0001" + "0179000001000100000001000401020304",
  );
  assertEquals(toHex(encodeName("a.bc.")), "0161026263" + "00");
  throws(() => encodeName("x".repeat(64)), /longer than 63/);
  assertEquals(TYPE_A, 1);
});
