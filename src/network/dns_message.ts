/**
 * DNS messages (RFC 1035), just what the embedded resolver needs: decode a query's header and
 * questions (names with compression pointers), and encode an answer with A and AAAA records
 * (by the address's family). Pure functions over bytes; the server is `dns_server.ts`.
 * @module
 */

import { ipBytes } from "../../ffi/mod.ts";

export const TYPE_A = 1;
export const TYPE_AAAA = 28;
export const TYPE_ANY = 255;
export const CLASS_IN = 1;

export const RCODE_NOERROR = 0;
export const RCODE_FORMERR = 1;
export const RCODE_SERVFAIL = 2;
export const RCODE_NXDOMAIN = 3;
export const RCODE_REFUSED = 5;

export interface Question {
  /** Lower-case, without the trailing dot ("" is the root). */
  name: string;
  type: number;
  class: number;
}

export interface Query {
  id: number;
  /** The header's second 16 bits (QR, opcode, AA, TC, RD, RA, Z, RCODE). */
  flags: number;
  questions: Question[];
}

/** An A record, or an AAAA record when `address` is IPv6. */
export interface ARecord {
  name: string;
  ttl: number;
  address: string;
}

export class DnsFormatError extends Error {}

/** Reads the name at `off`; returns it and the offset just past it (in the original place). */
export function readName(buf: Uint8Array, off: number): { name: string; next: number } {
  const labels: string[] = [];
  let next = -1;
  let jumps = 0;
  let total = 0;
  for (;;) {
    if (off >= buf.length) throw new DnsFormatError("name runs past the message");
    const len = buf[off];
    if ((len & 0xc0) === 0xc0) {
      if (off + 1 >= buf.length) throw new DnsFormatError("truncated compression pointer");
      if (++jumps > 32) throw new DnsFormatError("compression pointer loop");
      if (next < 0) next = off + 2;
      off = ((len & 0x3f) << 8) | buf[off + 1];
      continue;
    }
    if (len & 0xc0) throw new DnsFormatError(`unsupported label type 0x${len.toString(16)}`);
    if (len === 0) {
      if (next < 0) next = off + 1;
      break;
    }
    if (off + 1 + len > buf.length) throw new DnsFormatError("label runs past the message");
    total += len + 1;
    if (total > 255) throw new DnsFormatError("name longer than 255 bytes");
    labels.push(String.fromCharCode(...buf.subarray(off + 1, off + 1 + len)));
    off += 1 + len;
  }
  return { name: labels.join(".").toLowerCase(), next };
}

/** Decodes a query: header and question section (other sections are ignored). */
export function decodeQuery(buf: Uint8Array): Query {
  if (buf.length < 12) throw new DnsFormatError("message shorter than its header");
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const id = v.getUint16(0);
  const flags = v.getUint16(2);
  const qd = v.getUint16(4);
  if (flags & 0x8000) throw new DnsFormatError("not a query (QR is set)");
  const questions: Question[] = [];
  let off = 12;
  for (let i = 0; i < qd; i++) {
    const { name, next } = readName(buf, off);
    if (next + 4 > buf.length) throw new DnsFormatError("question runs past the message");
    questions.push({ name, type: v.getUint16(next), class: v.getUint16(next + 2) });
    off = next + 4;
  }
  return { id, flags, questions };
}

/** Encodes `name` as labels (no compression). */
export function encodeName(name: string): Uint8Array {
  const parts = name.replace(/\.$/, "").split(".").filter((l) => l !== "");
  const out: number[] = [];
  for (const p of parts) {
    const bytes = new TextEncoder().encode(p);
    if (bytes.length > 63) throw new DnsFormatError(`label "${p}" longer than 63 bytes`);
    out.push(bytes.length, ...bytes);
  }
  out.push(0);
  return new Uint8Array(out);
}

/**
 * The response to `q`: same id and question, QR set, opcode and RD copied, `recursion`
 * as RA, AA when we answer with authority; A records follow, each pointing at the question's
 * name when they share it.
 */
export function encodeResponse(
  q: Query,
  opts: { rcode: number; answers?: ARecord[]; authoritative?: boolean; recursion?: boolean },
): Uint8Array {
  const answers = opts.answers ?? [];
  const question = q.questions[0];
  const parts: Uint8Array[] = [];
  const header = new Uint8Array(12);
  const hv = new DataView(header.buffer);
  hv.setUint16(0, q.id);
  const opcode = q.flags & 0x7800;
  const rd = q.flags & 0x0100;
  hv.setUint16(
    2,
    0x8000 | opcode | (opts.authoritative ? 0x0400 : 0) | rd | (opts.recursion ? 0x0080 : 0) |
      (opts.rcode & 0xf),
  );
  hv.setUint16(4, question ? 1 : 0);
  hv.setUint16(6, answers.length);
  parts.push(header);
  if (question) {
    parts.push(encodeName(question.name));
    const tc = new Uint8Array(4);
    new DataView(tc.buffer).setUint16(0, question.type);
    new DataView(tc.buffer).setUint16(2, question.class);
    parts.push(tc);
  }
  for (const a of answers) {
    const sameName = question && a.name.toLowerCase().replace(/\.$/, "") === question.name;
    parts.push(sameName ? new Uint8Array([0xc0, 12]) : encodeName(a.name));
    const v6 = a.address.includes(":");
    const data = v6 ? ipBytes(a.address) : new Uint8Array(a.address.split(".").map(Number));
    const rr = new Uint8Array(10 + data.length);
    const rv = new DataView(rr.buffer);
    rv.setUint16(0, v6 ? TYPE_AAAA : TYPE_A);
    rv.setUint16(2, CLASS_IN);
    rv.setUint32(4, a.ttl);
    rv.setUint16(8, data.length);
    rr.set(data, 10);
    parts.push(rr);
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** A FORMERR for a message that could not be decoded, when its id can be read. */
export function formatError(buf: Uint8Array): Uint8Array | undefined {
  if (buf.length < 12) return undefined;
  return encodeResponse(
    { id: (buf[0] << 8) | buf[1], flags: ((buf[2] << 8) | buf[3]) & 0x7900, questions: [] },
    { rcode: RCODE_FORMERR },
  );
}
