/**
 * libc through Deno FFI: typed syscall wrappers that throw `ErrnoError`, constants and struct
 * layouts for x86_64 and aarch64, and the `Syscalls` seam the runtime codes against.
 *
 * ```ts
 * import { mount, MS_BIND, ErrnoError } from "./ffi/mod.ts";
 * try { mount("/src", "/dst", null, MS_BIND); } catch (e) { if (e instanceof ErrnoError) ... }
 * ```
 * @module
 */
export * from "./errno.ts";
export * from "./arch.ts";
export { bindNow, errno, libc, type LibcSymbolName } from "./libc.ts";
export { cstr, cstrArray } from "./cstr.ts";
export * from "./ns.ts";
export * from "./mount.ts";
export * from "./fs.ts";
export * from "./proc.ts";
export * from "./creds.ts";
export * from "./caps.ts";
export * from "./signals.ts";
export * from "./spawn.ts";
export * from "./netif.ts";
export * from "./syscalls.ts";
export * from "./netlink_msg.ts";
export * from "./netlink_socket.ts";
export * from "./netlink.ts";
export * from "./netlink_netns.ts";
export { ConnectRedirect, netnsCookie } from "./bpf.ts";
export * from "./fdpoll.ts";
