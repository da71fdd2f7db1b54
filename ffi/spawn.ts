/**
 * glibc's posix_spawn: start a program from the calling thread without fork(). glibc runs the
 * child with clone(CLONE_VM|CLONE_VFORK) on a stack of its own and execs at once, so no V8
 * code ever runs in it (DESIGN.md fact 8 rules out fork and raw clone), and the child inherits
 * the calling thread's namespaces, root and cwd. Deno's tokio knows nothing of such a child:
 * it never reaps it, so its exit status is the caller's to collect (waitpid on its pid).
 * @module
 */

import { libc } from "./libc.ts";
import { ErrnoError } from "./errno.ts";
import { cstr, cstrArray } from "./cstr.ts";

export const POSIX_SPAWN_SETSIGDEF = 0x04;
export const POSIX_SPAWN_SETSIGMASK = 0x08;

/**
 * Room for the opaque posix_spawn_file_actions_t (80 bytes on glibc x86_64) and
 * posix_spawnattr_t (336 bytes): generous, so a libc with larger structs is still safe.
 */
const OPAQUE_BYTES = 1024;
/** glibc's sigset_t: 1024 bits. */
const SIGSET_BYTES = 128;

export interface SpawnOptions {
  /**
   * dup2(from, to) in the child before exec, in this order; each target is left without
   * FD_CLOEXEC. `from` must differ from `to` (older glibc ignores equal pairs).
   */
  dup2?: readonly (readonly [number, number])[];
}

function fail(call: string, rc: number, args: unknown[]): never {
  throw new ErrnoError(call, rc, args);
}

/** Every signal from 1 to 64: glibc would otherwise leave its internal 32 and 33 ignored. */
function allSignals(): Uint8Array<ArrayBuffer> {
  const set = new Uint8Array(SIGSET_BYTES);
  set.fill(0xff, 0, 8);
  return set;
}

/**
 * Starts `path` (absolute, no PATH search) with `argv` and `envp` from the calling thread and
 * returns the child's pid. In the child every signal is back at its default disposition and
 * none is blocked, as after a fresh exec. Only descriptors without FD_CLOEXEC (and the
 * `dup2` targets) are inherited. Exec failures (ENOENT, EACCES, ...) throw here.
 */
export function posixSpawn(
  path: string,
  argv: readonly string[],
  envp: readonly string[],
  opts: SpawnOptions = {},
): number {
  const l = libc();
  const p = cstr(path);
  const a = cstrArray(argv);
  const e = cstrArray(envp);
  const fa = new Uint8Array(OPAQUE_BYTES);
  const attr = new Uint8Array(OPAQUE_BYTES);
  const pid = new Int32Array(1);
  let rc = l.posix_spawn_file_actions_init(fa);
  if (rc !== 0) fail("posix_spawn_file_actions_init", rc, []);
  try {
    rc = l.posix_spawnattr_init(attr);
    if (rc !== 0) fail("posix_spawnattr_init", rc, []);
    try {
      for (const [from, to] of opts.dup2 ?? []) {
        rc = l.posix_spawn_file_actions_adddup2(fa, from, to);
        if (rc !== 0) fail("posix_spawn_file_actions_adddup2", rc, [from, to]);
      }
      const empty = new Uint8Array(SIGSET_BYTES);
      const all = allSignals();
      rc = l.posix_spawnattr_setsigmask(attr, empty);
      if (rc !== 0) fail("posix_spawnattr_setsigmask", rc, []);
      rc = l.posix_spawnattr_setsigdefault(attr, all);
      if (rc !== 0) fail("posix_spawnattr_setsigdefault", rc, []);
      rc = l.posix_spawnattr_setflags(attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
      if (rc !== 0) fail("posix_spawnattr_setflags", rc, []);
      rc = l.posix_spawn(
        new Uint8Array(pid.buffer),
        p,
        fa,
        attr,
        new Uint8Array(a.ptrs.buffer),
        new Uint8Array(e.ptrs.buffer),
      );
      // The strings must stay alive until the child has exec'ed, which posix_spawn awaits.
      void a.keep;
      void e.keep;
      if (rc !== 0) fail("posix_spawn", rc, [path]);
      return pid[0];
    } finally {
      l.posix_spawnattr_destroy(attr);
    }
  } finally {
    l.posix_spawn_file_actions_destroy(fa);
  }
}
