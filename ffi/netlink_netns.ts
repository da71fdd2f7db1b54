/**
 * A netlink socket inside another network namespace (a container's), without ever changing
 * the namespaces of the calling thread: a throwaway Worker (its own OS thread) joins the
 * namespace with setns, creates the socket there, returns to its own namespace and ends. The
 * socket keeps working from any thread and pins the namespace until it is closed (DESIGN.md).
 *
 * The Worker's code is inline (a blob URL) so the bundled single-file build keeps working.
 * @module
 */

import { NetlinkSocket } from "./netlink_socket.ts";
import { Rtnl } from "./netlink.ts";
import { ErrnoError } from "./errno.ts";
import { libc } from "./libc.ts";

const WORKER_SOURCE = `
const lib = Deno.dlopen("libc.so.6", {
  __errno_location: { parameters: [], result: "pointer" },
  open: { parameters: ["buffer", "i32", "u32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  setns: { parameters: ["i32", "i32"], result: "i32" },
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
});
const O_RDONLY = 0, O_WRONLY = 1, O_CLOEXEC = 0o2000000, CLONE_NEWNET = 0x40000000;
const errno = () => new Deno.UnsafePointerView(lib.symbols.__errno_location()).getInt32();
const cs = (s) => new TextEncoder().encode(s + "\\0");
self.onmessage = (e) => {
  const path = e.data.path;
  let home = -1, target = -1, fd = -1;
  const fail = (call, arg) => ({ call, arg, errno: errno() });
  let res;
  try {
    home = lib.symbols.open(cs("/proc/thread-self/ns/net"), O_RDONLY | O_CLOEXEC, 0);
    if (home < 0) { res = fail("open", "/proc/thread-self/ns/net"); return; }
    target = lib.symbols.open(cs(path), O_RDONLY | O_CLOEXEC, 0);
    if (target < 0) { res = fail("open", path); return; }
    if (lib.symbols.setns(target, CLONE_NEWNET) < 0) { res = fail("setns", path); return; }
    if (e.data.sysctls) {
      // /proc/sys/net/* shows the namespace of the thread that opens it: this one, now.
      res = { ok: true };
      for (const [file, value] of e.data.sysctls) {
        const f = lib.symbols.open(cs(file), O_WRONLY | O_CLOEXEC, 0);
        if (f < 0) { res = fail("open", file); break; }
        const bytes = new TextEncoder().encode(value);
        const n = lib.symbols.write(f, bytes, BigInt(bytes.length));
        if (n < 0n) res = fail("write", file);
        lib.symbols.close(f);
        if (res.call) break;
      }
    } else {
      fd = lib.symbols.socket(16, 3 | O_CLOEXEC, 0);
      res = fd < 0 ? fail("socket", "AF_NETLINK") : { fd };
    }
    // Leave the container's namespace before this thread does anything else.
    if (lib.symbols.setns(home, CLONE_NEWNET) < 0) res = { ...fail("setns", "back"), fd };
  } finally {
    if (home >= 0) lib.symbols.close(home);
    if (target >= 0) lib.symbols.close(target);
    self.postMessage(res);
  }
};
`;

let workerUrl: string | undefined;

type Reply = { fd?: number; ok?: boolean; call?: string; arg?: string; errno?: number };

/** Runs the worker once in the namespace at `nsPath`. */
async function inNetns(msg: { path: string; sysctls?: [string, string][] }): Promise<Reply> {
  workerUrl ??= URL.createObjectURL(
    new Blob([WORKER_SOURCE], { type: "application/javascript" }),
  );
  const worker = new Worker(workerUrl, { type: "module" });
  try {
    return await new Promise<Reply>((resolve, reject) => {
      worker.onmessage = (e: MessageEvent<Reply>) => resolve(e.data);
      worker.onerror = (e) => {
        e.preventDefault();
        reject(new Error(`netns worker failed: ${e.message}`));
      };
      worker.postMessage(msg);
    });
  } finally {
    worker.terminate();
  }
}

/**
 * Writes sysctls of the network namespace at `nsPath`, e.g.
 * `{ "net/ipv6/conf/eth0/disable_ipv6": "0" }` (paths under /proc/sys), in order.
 */
export async function setSysctlsInNetns(
  nsPath: string,
  values: Record<string, string>,
): Promise<void> {
  const sysctls = Object.entries(values).map(([k, v]): [string, string] => [
    `/proc/sys/${k}`,
    v,
  ]);
  const reply = await inNetns({ path: nsPath, sysctls });
  if (reply.call) throw new ErrnoError(reply.call, reply.errno ?? 0, [reply.arg]);
}

/**
 * Opens a NETLINK_ROUTE socket in the network namespace at `nsPath`
 * (e.g. `/proc/<pid>/ns/net`). Close it when done: it keeps the namespace alive.
 */
export async function openNetlinkInNetns(nsPath: string): Promise<NetlinkSocket> {
  const reply = await inNetns({ path: nsPath });
  if (reply.call) {
    if (reply.fd !== undefined && reply.fd >= 0) {
      // The socket was made but the worker could not return home: the thread is gone now.
      libc().close(reply.fd);
    }
    throw new ErrnoError(reply.call, reply.errno ?? 0, [reply.arg]);
  }
  return new NetlinkSocket(reply.fd!);
}

/** `Rtnl` operations inside the network namespace at `nsPath`. */
export async function rtnlInNetns(nsPath: string): Promise<Rtnl> {
  return new Rtnl(await openNetlinkInNetns(nsPath));
}
