/**
 * IPv4 subnet arithmetic for IPAM: parsing "10.1.0.0/24", membership, overlap, the usable
 * host range, and picking a free subnet from a pool. Addresses are unsigned 32-bit numbers.
 * @module
 */

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
  const base = (addr & mask(prefix)) >>> 0;
  if (base !== addr) {
    throw PolisError.invalid(
      `invalid subnet "${text}": host bits are set (did you mean ${intToIp(base)}/${prefix}?)`,
    );
  }
  if (prefix > 30) {
    throw PolisError.invalid(`subnet "${text}" is too small: use a prefix of /30 or shorter`);
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
