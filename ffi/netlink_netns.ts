/**
 * Work inside another network namespace (a container's) done on the calling thread: setns
 * into the namespace, the work, setns back, all synchronous, so no other code runs on this
 * thread in between (JS is single-threaded; pool threads keep their own namespaces). A
 * netlink socket made there belongs to that namespace, keeps working from any thread, and
 * pins the namespace until closed; /proc/sys/net opened there shows that namespace
 * (DESIGN.md).
 *
 * This replaced a throwaway Worker per call: a new isolate cost each bridged container start
 * 10-30 ms, the setns round trip costs microseconds.
 * @module
 */

import { NetlinkSocket, openNetlinkFd } from "./netlink_socket.ts";
import { Rtnl } from "./netlink.ts";
import { close, open, writeAll } from "./fs.ts";
import { O_CLOEXEC, O_RDONLY, O_WRONLY } from "./arch.ts";
import { CLONE_NEWNET, setns } from "./ns.ts";
import { libc } from "./libc.ts";

/** Runs `fn` (synchronous only) with this thread in the network namespace at `nsPath`. */
export function inNetnsSync<T>(nsPath: string, fn: () => T): T {
  const home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  try {
    const target = open(nsPath, O_RDONLY | O_CLOEXEC);
    try {
      setns(target, CLONE_NEWNET, nsPath);
    } finally {
      close(target);
    }
    try {
      return fn();
    } finally {
      returnHome(home);
    }
  } finally {
    close(home);
  }
}

/**
 * Back to the thread's own namespace. If that ever failed, every later socket this thread
 * made would be in the container's namespace: no state is worth that, so the process ends
 * (a restarted daemon reconciles).
 */
function returnHome(home: number): void {
  try {
    setns(home, CLONE_NEWNET, "the thread's own network namespace");
  } catch (e) {
    const msg = `polis: fatal: cannot return to the host network namespace: ${e}\n`;
    try {
      libc().write(2, new TextEncoder().encode(msg), BigInt(msg.length));
    } finally {
      Deno.exit(70);
    }
  }
}

/**
 * Writes sysctls of the network namespace at `nsPath`, e.g.
 * `{ "net/ipv6/conf/eth0/disable_ipv6": "0" }` (paths under /proc/sys), in order.
 */
export function setSysctlsInNetns(nsPath: string, values: Record<string, string>): Promise<void> {
  return settled(() =>
    inNetnsSync(nsPath, () => {
      for (const [key, value] of Object.entries(values)) {
        const fd = open(`/proc/sys/${key}`, O_WRONLY | O_CLOEXEC);
        try {
          writeAll(fd, value);
        } finally {
          close(fd);
        }
      }
    })
  );
}

/**
 * Opens a NETLINK_ROUTE socket in the network namespace at `nsPath`
 * (e.g. `/proc/<pid>/ns/net`). Close it when done: it keeps the namespace alive.
 */
export function openNetlinkInNetnsSync(nsPath: string): NetlinkSocket {
  return new NetlinkSocket(inNetnsSync(nsPath, openNetlinkFd));
}

/** Kept async for callers written against the Worker version. */
export function openNetlinkInNetns(nsPath: string): Promise<NetlinkSocket> {
  return settled(() => openNetlinkInNetnsSync(nsPath));
}

/** A synchronous call's result or error as a promise. */
function settled<T>(fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (e) {
    return Promise.reject(e);
  }
}

/** `Rtnl` operations inside the network namespace at `nsPath`. */
export async function rtnlInNetns(nsPath: string): Promise<Rtnl> {
  return new Rtnl(await openNetlinkInNetns(nsPath));
}
