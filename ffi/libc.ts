/**
 * libc through `Deno.dlopen`, one symbol at a time on first use. No symbol is
 * `nonblocking` but `sendto_nonblocking` and `poll_nonblocking`: those run on a pool thread whose namespaces, root
 * and credentials are not the caller's (DESIGN.md), and errno must be read on the thread
 * that made the call.
 * @module
 */

const SYMBOLS = {
  __errno_location: { parameters: [], result: "pointer" },
  unshare: { parameters: ["i32"], result: "i32" },
  setns: { parameters: ["i32", "i32"], result: "i32" },
  mount: { parameters: ["buffer", "buffer", "buffer", "u64", "buffer"], result: "i32" },
  umount2: { parameters: ["buffer", "i32"], result: "i32" },
  sethostname: { parameters: ["buffer", "usize"], result: "i32" },
  prctl: { parameters: ["i32", "u64", "u64", "u64", "u64"], result: "i32" },
  chdir: { parameters: ["buffer"], result: "i32" },
  fchdir: { parameters: ["i32"], result: "i32" },
  chroot: { parameters: ["buffer"], result: "i32" },
  open: { parameters: ["buffer", "i32", "u32"], result: "i32" },
  openat: { parameters: ["i32", "buffer", "i32", "u32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  dup2: { parameters: ["i32", "i32"], result: "i32" },
  dup3: { parameters: ["i32", "i32", "i32"], result: "i32" },
  pipe2: { parameters: ["buffer", "i32"], result: "i32" },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  kill: { parameters: ["i32", "i32"], result: "i32" },
  syscall: {
    parameters: ["i64", "i64", "i64", "i64", "i64", "i64", "i64"],
    result: "i64",
  },
  waitid: { parameters: ["i32", "u32", "buffer", "i32"], result: "i32" },
  waitpid: { parameters: ["i32", "buffer", "i32"], result: "i32" },
  execve: { parameters: ["buffer", "buffer", "buffer"], result: "i32" },
  getpid: { parameters: [], result: "i32" },
  gettid: { parameters: [], result: "i32" },
  setresuid: { parameters: ["u32", "u32", "u32"], result: "i32" },
  setresgid: { parameters: ["u32", "u32", "u32"], result: "i32" },
  setgroups: { parameters: ["usize", "buffer"], result: "i32" },
  mkfifo: { parameters: ["buffer", "u32"], result: "i32" },
  symlink: { parameters: ["buffer", "buffer"], result: "i32" },
  fchown: { parameters: ["i32", "u32", "u32"], result: "i32" },
  umask: { parameters: ["u32"], result: "u32" },
  prlimit: { parameters: ["i32", "i32", "buffer", "buffer"], result: "i32" },
  poll: { parameters: ["buffer", "u64", "i32"], result: "i32" },
  fcntl: { parameters: ["i32", "i32", "i64"], result: "i32" },
  setxattr: { parameters: ["buffer", "buffer", "buffer", "usize", "i32"], result: "i32" },
  lsetxattr: { parameters: ["buffer", "buffer", "buffer", "usize", "i32"], result: "i32" },
  ioctl: { parameters: ["i32", "u64", "pointer"], result: "i32" },
  sigprocmask: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  statvfs: { parameters: ["buffer", "buffer"], result: "i32" },
  // netlink sockets (ffi/netlink_socket.ts)
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" },
  sendto: { parameters: ["i32", "buffer", "usize", "i32", "buffer", "u32"], result: "isize" },
  recvfrom: {
    parameters: ["i32", "buffer", "usize", "i32", "buffer", "buffer"],
    result: "isize",
  },
  // The one exception: a netlink request whose kernel work is slow (deleting a link waits for
  // an RCU grace period, 10-20 ms) is sent from a pool thread, so the event loop goes on.
  // Safe there: a netlink socket acts in the namespace it was opened in and is checked against
  // its opener's credentials, whatever thread sends. errno is not read after it: the kernel's
  // answer comes in the ack, read on the calling thread.
  sendto_nonblocking: {
    name: "sendto",
    parameters: ["i32", "buffer", "usize", "i32", "buffer", "u32"],
    result: "isize",
    nonblocking: true,
  },
  // And fdpoll.ts's wait for readable fds: one pool thread for every FIFO the daemon reads
  // (poll acts on fds, which mean the same on any thread; errno is not read after it).
  poll_nonblocking: {
    name: "poll",
    parameters: ["buffer", "u64", "i32"],
    result: "i32",
    nonblocking: true,
  },
  // posix_spawn (ffi/spawn.ts): these return an error number instead of setting errno.
  posix_spawn: {
    parameters: ["buffer", "buffer", "buffer", "buffer", "buffer", "buffer"],
    result: "i32",
  },
  posix_spawn_file_actions_init: { parameters: ["buffer"], result: "i32" },
  posix_spawn_file_actions_adddup2: { parameters: ["buffer", "i32", "i32"], result: "i32" },
  posix_spawn_file_actions_destroy: { parameters: ["buffer"], result: "i32" },
  posix_spawnattr_init: { parameters: ["buffer"], result: "i32" },
  posix_spawnattr_setflags: { parameters: ["buffer", "i16"], result: "i32" },
  posix_spawnattr_setsigmask: { parameters: ["buffer", "buffer"], result: "i32" },
  posix_spawnattr_setsigdefault: { parameters: ["buffer", "buffer"], result: "i32" },
  posix_spawnattr_destroy: { parameters: ["buffer"], result: "i32" },
} as const;

type Symbols = typeof SYMBOLS;
export type LibcSymbols = Deno.DynamicLibrary<Symbols>["symbols"];

let symbols: LibcSymbols | undefined;
/** Keeps every per-symbol handle open for the life of the process. */
const handles: unknown[] = [];

function bind<K extends keyof Symbols>(name: K): LibcSymbols[K] {
  const one = { [name]: SYMBOLS[name] } as Pick<Symbols, K>;
  const lib = Deno.dlopen("libc.so.6", one);
  handles.push(lib);
  return (lib.symbols as unknown as LibcSymbols)[name];
}

/**
 * libc's symbols, each bound on its first use. Binding all of them in one dlopen costs
 * 12-25 ms (Deno builds a call trampoline per symbol), which every container init and every
 * setup worker would pay at start-up although each uses only a few.
 */
export function libc(): LibcSymbols {
  if (symbols === undefined) {
    const lazy: Record<string, unknown> = {};
    for (const name of Object.keys(SYMBOLS) as (keyof Symbols)[]) {
      Object.defineProperty(lazy, name, {
        configurable: true,
        enumerable: true,
        get() {
          const fn = bind(name);
          Object.defineProperty(lazy, name, { value: fn, enumerable: true });
          return fn;
        },
      });
    }
    symbols = lazy as unknown as LibcSymbols;
  }
  return symbols;
}

export type LibcSymbolName = keyof Symbols;

/**
 * Binds `names` now, in one dlopen: a process that knows what it will call (the container's
 * init) pays one binding instead of about 0.3 ms per symbol on first use.
 */
export function bindNow(names: readonly LibcSymbolName[]): void {
  const lazy = libc() as unknown as Record<string, unknown>;
  const todo = names.filter((n) => Object.getOwnPropertyDescriptor(lazy, n)?.get !== undefined);
  if (todo.length === 0) return;
  const defs = Object.fromEntries(todo.map((n) => [n, SYMBOLS[n]])) as unknown as Symbols;
  const lib = Deno.dlopen("libc.so.6", defs);
  handles.push(lib);
  const bound = lib.symbols as unknown as Record<string, unknown>;
  for (const n of todo) {
    Object.defineProperty(lazy, n, { value: bound[n], enumerable: true });
  }
}

/** The calling thread's errno. Call immediately after the failing call. */
export function errno(): number {
  const p = libc().__errno_location();
  return p === null ? 0 : new Deno.UnsafePointerView(p).getInt32();
}
