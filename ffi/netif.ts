/**
 * Network interface flags through ioctl on an ordinary socket: enough to bring `lo` up in a
 * fresh network namespace from inside it (the container's init does so), without netlink or
 * a helper thread. The socket belongs to the calling thread's network namespace.
 * @module
 */

import { libc } from "./libc.ts";
import { check } from "./check.ts";
import { ioctl } from "./fs.ts";

const AF_INET = 2;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const SIOCGIFFLAGS = 0x8913;
const SIOCSIFFLAGS = 0x8914;
const IFF_UP = 0x1;
/** sizeof(struct ifreq) on 64-bit Linux: a 16-byte name, then a 24-byte union. */
const IFREQ_SIZE = 40;
const IFNAMSIZ = 16;

function ifreq(name: string): Uint8Array {
  const bytes = new TextEncoder().encode(name);
  if (bytes.length === 0 || bytes.length >= IFNAMSIZ) {
    throw new RangeError(`interface name "${name}" must be 1-15 bytes`);
  }
  const req = new Uint8Array(IFREQ_SIZE);
  req.set(bytes);
  return req;
}

/** Sets IFF_UP on interface `name` (e.g. "lo") of the calling thread's network namespace. */
export function interfaceUp(name: string): void {
  const req = ifreq(name);
  const fd = check(libc().socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), "socket", ["AF_INET"]);
  try {
    ioctl(fd, SIOCGIFFLAGS, req);
    const view = new DataView(req.buffer);
    const flags = view.getUint16(IFNAMSIZ, true);
    if (flags & IFF_UP) return;
    view.setUint16(IFNAMSIZ, flags | IFF_UP, true);
    ioctl(fd, SIOCSIFFLAGS, req);
  } finally {
    libc().close(fd);
  }
}

/** The interface flags of `name` (IFF_*) in the calling thread's network namespace. */
export function interfaceFlags(name: string): number {
  const req = ifreq(name);
  const fd = check(libc().socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), "socket", ["AF_INET"]);
  try {
    ioctl(fd, SIOCGIFFLAGS, req);
    return new DataView(req.buffer).getUint16(IFNAMSIZ, true);
  } finally {
    libc().close(fd);
  }
}
