/**
 * A connect-time redirect in the kernel: a cgroup `connect4` BPF program, attached (by a BPF
 * link) to the cgroup v2 root, that rewrites the destination of TCP connect() calls made in the
 * host's network namespace when the (address, port) is a key of its hash map. The socket is
 * then connected straight to the target, so its packets need no NAT and it takes the target
 * route's MTU. The link lives as long as its file descriptor: when the process that made it
 * exits, the kernel detaches the program and frees the map.
 * @module
 */

import { arch, O_CLOEXEC } from "./arch.ts";
import { check } from "./check.ts";
import { libc } from "./libc.ts";
import { ErrnoError } from "./errno.ts";

const SYS_BPF: Record<string, number> = { x86_64: 321, aarch64: 280 };

const BPF_MAP_CREATE = 0;
const BPF_MAP_UPDATE_ELEM = 2;
const BPF_MAP_DELETE_ELEM = 3;
const BPF_PROG_LOAD = 5;
const BPF_LINK_CREATE = 28;
const BPF_MAP_TYPE_HASH = 1;
const BPF_PROG_TYPE_CGROUP_SOCK_ADDR = 18;
const BPF_CGROUP_INET4_CONNECT = 10;

const SOL_SOCKET = 1;
const SO_NETNS_COOKIE = 71;

function addr(buf: Uint8Array): bigint {
  return BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(buf as Uint8Array<ArrayBuffer>)));
}

function bpf(cmd: number, attr: Uint8Array, what: string): number {
  const nr = SYS_BPF[Deno.build.arch];
  const r = libc().syscall(BigInt(nr), BigInt(cmd), addr(attr), BigInt(attr.length), 0n, 0n, 0n);
  return check(r, `bpf(${what})`, []);
}

/** The cookie of the calling thread's network namespace (SO_NETNS_COOKIE, Linux 5.14). */
export function netnsCookie(): bigint {
  const fd = check(libc().socket(2, 2, 0), "socket", []);
  try {
    const val = new Uint8Array(8);
    const len = new Uint32Array([8]);
    check(
      libc().getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, val, new Uint8Array(len.buffer)),
      "getsockopt",
      ["SO_NETNS_COOKIE"],
    );
    return new DataView(val.buffer).getBigUint64(0, true);
  } finally {
    libc().close(fd);
  }
}

// ---- the program ---------------------------------------------------------------------------

/** One BPF instruction: opcode, dst/src registers, offset, immediate. */
function insn(op: number, dst: number, src: number, off: number, imm: number): number[] {
  const b = new Uint8Array(8);
  const v = new DataView(b.buffer);
  v.setUint8(0, op);
  v.setUint8(1, (src << 4) | dst);
  v.setInt16(2, off, true);
  v.setInt32(4, imm, true);
  return [...b];
}

/** Two-slot 64-bit immediate load (src 1: `imm` is a map fd). */
function ld64(dst: number, src: number, value: bigint): number[] {
  const lo = Number(BigInt.asIntN(32, value & 0xffffffffn));
  const hi = Number(BigInt.asIntN(32, value >> 32n));
  return [...insn(0x18, dst, src, 0, lo), ...insn(0, 0, 0, 0, hi)];
}

/**
 * The connect4 program. Offsets are those of `struct bpf_sock_addr` (user_ip4 4, user_port 24,
 * type 32, sk 64) and `struct bpf_sock` (src_ip4 24). The map's key and value are the
 * destination as connect() gives it: the IPv4 address, then the port, both in network order,
 * in 8 bytes. Left alone: other namespaces (a container's own 127.0.0.1), non-TCP sockets, and
 * sockets bound to an address beforehand (their source must stay what they chose; DNAT handles
 * them). Always returns 1 (allow): the program can only redirect, never refuse.
 */
function program(mapFd: number, hostCookie: bigint): Uint8Array {
  const code: number[][] = [
    insn(0xbf, 6, 1, 0, 0), // 0: r6 = ctx
    insn(0x61, 2, 6, 32, 0), // 1: r2 = ctx->type
    insn(0x55, 2, 0, 0, 1), // 2: if r2 != SOCK_STREAM goto out
    insn(0x79, 2, 6, 64, 0), // 3: r2 = ctx->sk
    insn(0x61, 2, 2, 24, 0), // 4: r2 = sk->src_ip4
    insn(0x55, 2, 0, 0, 0), // 5: if r2 != 0 goto out (bound first)
    insn(0xbf, 1, 6, 0, 0), // 6: r1 = ctx
    insn(0x85, 0, 0, 0, 122), // 7: r0 = bpf_get_netns_cookie(ctx)
    ld64(1, 0, hostCookie), // 8-9: r1 = host cookie
    insn(0x5d, 0, 1, 0, 0), // 10: if r0 != r1 goto out
    insn(0x61, 2, 6, 4, 0), // 11: r2 = ctx->user_ip4
    insn(0x63, 10, 2, -8, 0), // 12: key.addr = r2
    insn(0x61, 2, 6, 24, 0), // 13: r2 = ctx->user_port
    insn(0x63, 10, 2, -4, 0), // 14: key.port = r2
    ld64(1, 1, BigInt(mapFd)), // 15-16: r1 = map
    insn(0xbf, 2, 10, 0, 0), // 17: r2 = fp
    insn(0x07, 2, 0, 0, -8), // 18: r2 += -8
    insn(0x85, 0, 0, 0, 1), // 19: r0 = map_lookup_elem(map, &key)
    insn(0x15, 0, 0, 0, 0), // 20: if r0 == 0 goto out
    insn(0x61, 2, 0, 0, 0), // 21: r2 = value.addr
    insn(0x63, 6, 2, 4, 0), // 22: ctx->user_ip4 = r2
    insn(0x61, 2, 0, 4, 0), // 23: r2 = value.port
    insn(0x63, 6, 2, 24, 0), // 24: ctx->user_port = r2
    insn(0xb7, 0, 0, 0, 1), // 25: out: r0 = 1
    insn(0x95, 0, 0, 0, 0), // 26: exit
  ];
  const flat = code.flat();
  const insns = new Uint8Array(flat);
  // Jumps go to "out" (slot 25): patch each conditional jump's offset from its own slot.
  const exit = 25;
  for (let slot = 0; slot < insns.length / 8; slot++) {
    const op = insns[slot * 8];
    if (op === 0x55 || op === 0x5d || op === 0x15) {
      new DataView(insns.buffer).setInt16(slot * 8 + 2, exit - slot - 1, true);
    }
  }
  return insns;
}

/** A loaded and attached connect4 redirect; `close()` (or the process's exit) removes it. */
export class ConnectRedirect {
  #map = -1;
  #prog = -1;
  #link = -1;
  #cgroup = -1;

  /** Loads the program and attaches it to the cgroup v2 hierarchy mounted at `cgroup2`. */
  constructor(cgroup2: string, maxEntries = 4096) {
    const m = new Uint8Array(72);
    const mv = new DataView(m.buffer);
    mv.setUint32(0, BPF_MAP_TYPE_HASH, true);
    mv.setUint32(4, 8, true);
    mv.setUint32(8, 8, true);
    mv.setUint32(12, maxEntries, true);
    this.#map = bpf(BPF_MAP_CREATE, m, "map_create");
    try {
      const insns = program(this.#map, netnsCookie());
      const license = new TextEncoder().encode("GPL\0");
      const log = new Uint8Array(65536);
      const p = new Uint8Array(128);
      const pv = new DataView(p.buffer);
      pv.setUint32(0, BPF_PROG_TYPE_CGROUP_SOCK_ADDR, true);
      pv.setUint32(4, insns.length / 8, true);
      pv.setBigUint64(8, addr(insns), true);
      pv.setBigUint64(16, addr(license), true);
      pv.setUint32(24, 1, true);
      pv.setUint32(28, log.length, true);
      pv.setBigUint64(32, addr(log), true);
      p.set(new TextEncoder().encode("polis_connect4"), 48);
      pv.setUint32(68, BPF_CGROUP_INET4_CONNECT, true);
      try {
        this.#prog = bpf(BPF_PROG_LOAD, p, "prog_load");
      } catch (e) {
        const text = new TextDecoder().decode(log.subarray(0, log.indexOf(0))).trim();
        if (e instanceof ErrnoError && text) {
          const tail = text.split("\n").slice(-3).join("; ");
          throw new ErrnoError("bpf(prog_load)", e.errno, [], tail);
        }
        throw e;
      }
      this.#cgroup = check(
        libc().open(
          new TextEncoder().encode(cgroup2 + "\0"),
          arch().O_DIRECTORY | O_CLOEXEC,
          0,
        ),
        "open",
        [cgroup2],
      );
      const l = new Uint8Array(64);
      const lv = new DataView(l.buffer);
      lv.setUint32(0, this.#prog, true);
      lv.setUint32(4, this.#cgroup, true);
      lv.setUint32(8, BPF_CGROUP_INET4_CONNECT, true);
      this.#link = bpf(BPF_LINK_CREATE, l, "link_create");
    } catch (e) {
      this.close();
      throw e;
    }
  }

  /** Connections to `from` (ip:port) go to `to` instead. */
  set(from: [string, number], to: [string, number]): void {
    const a = new Uint8Array(40);
    const av = new DataView(a.buffer);
    av.setUint32(0, this.#map, true);
    const key = entry(from);
    const value = entry(to);
    av.setBigUint64(8, addr(key), true);
    av.setBigUint64(16, addr(value), true);
    bpf(BPF_MAP_UPDATE_ELEM, a, "map_update_elem");
  }

  /** Stops redirecting `from`; no-op when it was not. */
  delete(from: [string, number]): void {
    const a = new Uint8Array(40);
    const av = new DataView(a.buffer);
    av.setUint32(0, this.#map, true);
    const key = entry(from);
    av.setBigUint64(8, addr(key), true);
    try {
      bpf(BPF_MAP_DELETE_ELEM, a, "map_delete_elem");
    } catch (e) {
      if (!(e instanceof ErrnoError && e.code === "ENOENT")) throw e;
    }
  }

  /** Detaches the program and frees it and its map (once). */
  close(): void {
    for (const fd of [this.#link, this.#cgroup, this.#prog, this.#map]) {
      if (fd >= 0) libc().close(fd);
    }
    this.#link =
      this.#cgroup =
      this.#prog =
      this.#map =
        -1;
  }
}

/** 8 bytes: IPv4 address, port (network order), 2 zero bytes. */
function entry([ip, port]: [string, number]): Uint8Array {
  const b = new Uint8Array(8);
  b.set(ip.split(".").map(Number), 0);
  b[4] = port >> 8;
  b[5] = port & 0xff;
  return b;
}
