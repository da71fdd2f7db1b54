/**
 * Subnet arithmetic for IPAM: parsing "10.1.0.0/24", membership, overlap, the usable host
 * range, and picking a free subnet from a pool. IPv4 addresses are unsigned 32-bit numbers;
 * IPv6 ones (the `6` functions) are 128-bit bigints, so a /64 is never enumerated.
 * @module
 */

import { ipBytes, ipText } from "../../ffi/mod.ts";
import { PolisError } from "../core/mod.ts";

export interface Subnet {
  /** Network address as an unsigned 32-bit number. */
  base: number;
  prefix: number;
}

export function ipToInt(text: string): number {
  const parts = text.split(".");
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) {
    throw PolisError.invalid(`invalid IPv4 address "${text}"`);
  }
  return parts.reduce((n, p) => n * 256 + Number(p), 0);
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

function mask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** Parses "a.b.c.d/n"; refuses host bits set ("10.0.0.1/24") as docker does. */
export function parseSubnet(text: string): Subnet {
  const m = /^([\d.]+)\/(\d{1,2})$/.exec(text);
  if (!m || Number(m[2]) > 32) {
    throw PolisError.invalid(`invalid subnet "${text}": expected an IPv4 CIDR such as 10.1.0.0/24`);
  }
  const prefix = Number(m[2]);
  const addr = ipToInt(m[1]);
  return checkedSubnet(text, addr, (addr & mask(prefix)) >>> 0, prefix, 30, intToIp);
}

/**
 * The subnet `text` names, once its address has no host bits (`base`, the address masked to
 * `prefix`, is the address itself) and it leaves room for a gateway and a host (`prefix` at
 * most `maxPrefix`). One check for IPv4 (numbers) and IPv6 (bigints).
 */
function checkedSubnet<T extends number | bigint>(
  text: string,
  addr: T,
  base: T,
  prefix: number,
  maxPrefix: number,
  show: (a: T) => string,
): { base: T; prefix: number } {
  if (base !== addr) {
    throw PolisError.invalid(
      `invalid subnet "${text}": host bits are set (did you mean ${show(base)}/${prefix}?)`,
    );
  }
  if (prefix > maxPrefix) {
    throw PolisError.invalid(
      `subnet "${text}" is too small: use a prefix of /${maxPrefix} or shorter`,
    );
  }
  return { base, prefix };
}

export function subnetText(s: Subnet): string {
  return `${intToIp(s.base)}/${s.prefix}`;
}

export function size(s: Subnet): number {
  return 2 ** (32 - s.prefix);
}

export function contains(s: Subnet, addr: number): boolean {
  return ((addr & mask(s.prefix)) >>> 0) === s.base;
}

export function overlaps(a: Subnet, b: Subnet): boolean {
  const p = Math.min(a.prefix, b.prefix);
  return ((a.base & mask(p)) >>> 0) === ((b.base & mask(p)) >>> 0);
}

/** First and last usable host addresses (network and broadcast excluded). */
export function hostRange(s: Subnet): { first: number; last: number } {
  return { first: s.base + 1, last: s.base + size(s) - 2 };
}

/** docker's scheme: 02:42 followed by the IPv4 address, so a MAC never repeats in a subnet. */
export function macForIp(addr: number): string {
  const b = [0x02, 0x42, addr >>> 24, (addr >>> 16) & 255, (addr >>> 8) & 255, addr & 255];
  return b.map((x) => x.toString(16).padStart(2, "0")).join(":");
}

/**
 * The first `/prefix` subnet of `pool` that overlaps none of `taken`, or undefined.
 */
export function pickSubnet(pool: Subnet, prefix: number, taken: Subnet[]): Subnet | undefined {
  const step = 2 ** (32 - prefix);
  for (let base = pool.base; base < pool.base + size(pool); base += step) {
    const s = { base, prefix };
    if (!taken.some((t) => overlaps(t, s))) return s;
  }
  return undefined;
}

// ---- IPv6 ---------------------------------------------------------------------------------

export interface Subnet6 {
  /** Network address as a 128-bit number. */
  base: bigint;
  prefix: number;
}

const ALL128 = (1n << 128n) - 1n;

export function ip6ToBig(text: string): bigint {
  let bytes: Uint8Array;
  try {
    if (!text.includes(":")) throw new TypeError();
    bytes = ipBytes(text);
  } catch {
    throw PolisError.invalid(`invalid IPv6 address "${text}"`);
  }
  return bytes.reduce((n, b) => (n << 8n) | BigInt(b), 0n);
}

/** The canonical (compressed, lower-case) text of a 128-bit address. */
export function bigToIp6(n: bigint): string {
  const out = new Uint8Array(16);
  for (let i = 15; i >= 0; i--) {
    out[i] = Number(n & 0xffn);
    n >>= 8n;
  }
  return ipText(out);
}

/** The canonical text of an IPv6 address ("FD12:0::01" → "fd12::1"). */
export function canonicalIp6(text: string): string {
  return bigToIp6(ip6ToBig(text));
}

function mask6(prefix: number): bigint {
  return prefix === 0 ? 0n : (ALL128 << BigInt(128 - prefix)) & ALL128;
}

/** Parses "fd12:3456::/64"; refuses host bits set, as `parseSubnet`. */
export function parseSubnet6(text: string): Subnet6 {
  const m = /^([0-9a-fA-F:.]+)\/(\d{1,3})$/.exec(text);
  if (!m || !m[1].includes(":") || Number(m[2]) > 128) {
    throw PolisError.invalid(
      `invalid subnet "${text}": expected an IPv6 CIDR such as fd12:3456::/64`,
    );
  }
  const prefix = Number(m[2]);
  let addr: bigint;
  try {
    addr = ip6ToBig(m[1]);
  } catch {
    throw PolisError.invalid(
      `invalid subnet "${text}": expected an IPv6 CIDR such as fd12:3456::/64`,
    );
  }
  return checkedSubnet(text, addr, addr & mask6(prefix), prefix, 126, bigToIp6);
}

export function subnet6Text(s: Subnet6): string {
  return `${bigToIp6(s.base)}/${s.prefix}`;
}

export function contains6(s: Subnet6, addr: bigint): boolean {
  return (addr & mask6(s.prefix)) === s.base;
}

export function overlaps6(a: Subnet6, b: Subnet6): boolean {
  const m = mask6(Math.min(a.prefix, b.prefix));
  return (a.base & m) === (b.base & m);
}

/**
 * Usable addresses: all but the subnet-router anycast address (the network address itself);
 * IPv6 has no broadcast.
 */
export function hostRange6(s: Subnet6): { first: bigint; last: bigint } {
  return { first: s.base + 1n, last: s.base + (1n << BigInt(128 - s.prefix)) - 1n };
}

/** The first `/prefix` of `pool` that overlaps none of `taken` (at most `limit` tries). */
export function pickSubnet6(
  pool: Subnet6,
  prefix: number,
  taken: Subnet6[],
  limit = 65536,
): Subnet6 | undefined {
  const step = 1n << BigInt(128 - prefix);
  const end = pool.base + (1n << BigInt(128 - pool.prefix));
  let tries = 0;
  for (let base = pool.base; base < end && tries < limit; base += step, tries++) {
    const s = { base, prefix };
    if (!taken.some((t) => overlaps6(t, s))) return s;
  }
  return undefined;
}
