/**
 * The runtime's TypeScript API as the daemon uses it, as root: createContainer with its
 * default Worker helper (and the `_setup` process fallback), log files for stdio, the Reaper
 * collecting exit statuses as a subreaper.
 *
 * The test task runs this file in a `deno test` of its own: inside `deno test --parallel`
 * with every other file, the first setup Worker it made often took over 10 s to load (each
 * create then fell back to the `_setup` process; cause inside deno test not found, daemons
 * never showed it).
 */

import {
  deepStrictEqual as assertEquals,
  match as assertMatch,
  ok as assert,
} from "node:assert/strict";
import {
  isRoot,
  makeBundle,
  removeTestCgroupParent,
  type TestBundle,
  uniquePrefix,
  useDevSelf,
  waitFor,
} from "./helpers/bundle.ts";
import {
  becomeSubreaper,
  containerState,
  createContainer,
  deleteContainer,
  dropSpareWorker,
  type ExitStatus,
  killContainer,
  listContainers,
  Reaper,
  type RuntimeConfig,
  startContainer,
} from "../src/runtime/mod.ts";
import { existsSync as exists, PolisError } from "../src/core/mod.ts";
import { openCgroup } from "../src/security/mod.ts";
import { mkfifo } from "../ffi/mod.ts";

const skip = !isRoot();
if (skip) console.log("runtime_api tests skipped: they need root");
else {
  useDevSelf();
  becomeSubreaper();
}

const prefix = uniquePrefix("api");
let counter = 0;

interface Ctx {
  id: string;
  cfg: RuntimeConfig;
  bundle: TestBundle;
  out: string;
  err: string;
  reaper: Reaper;
}

async function withContainer(
  script: string[] | string,
  fn: (c: Ctx) => Promise<void>,
  opts: Parameters<typeof makeBundle>[0] = {},
): Promise<void> {
  const id = `${prefix}-${++counter}`;
  const root = Deno.makeTempDirSync({ prefix: "polis-api-root-" });
  const args = typeof script === "string" ? ["sh", "-c", script] : script;
  const bundle = makeBundle({ args, cgroupsPath: `${prefix}/${id}`, ...opts });
  const reaper = new Reaper({ intervalMs: 100 });
  let failure: unknown = null;
  try {
    await fn({
      id,
      cfg: { stateRoot: `${root}/state` },
      bundle,
      out: `${root}/stdout.log`,
      err: `${root}/stderr.log`,
      reaper,
    });
  } catch (e) {
    failure = e;
  }
  try {
    await deleteContainer({ stateRoot: `${root}/state` }, id, { force: true });
  } catch (e) {
    if (!(e instanceof PolisError && e.code === "not_found")) failure ??= e;
  }
  reaper.close();
  bundle.cleanup();
  Deno.removeSync(root, { recursive: true });
  removeTestCgroupParent(prefix);
  if (failure !== null) throw failure;
}

/** create → watch → start → exit status. */
/** createContainer of the test's bundle with its log files as stdio. */
function create(
  c: Ctx,
  opts: { cfg?: RuntimeConfig; id?: string; helper?: "worker" | "process" } = {},
) {
  return createContainer(opts.cfg ?? c.cfg, {
    id: opts.id ?? c.id,
    bundle: c.bundle.dir,
    stdio: { stdout: c.out, stderr: c.err },
  }, opts.helper);
}

async function run(c: Ctx): Promise<ExitStatus> {
  const st = await create(c);
  const exited = c.reaper.watch(st.pid!);
  await startContainer(c.cfg, c.id);
  return await exited;
}

const read = (p: string) => {
  try {
    return Deno.readTextFileSync(p);
  } catch {
    return "";
  }
};

Deno.test({
  name: "the exit code of the workload reaches the reaper",
  ignore: skip,
  fn: () =>
    withContainer("echo out; echo err >&2; exit 42", async (c) => {
      const s = await run(c);
      assertEquals(s, { exitCode: 42, known: true });
      assertEquals(read(c.out), "out\n");
      assertEquals(read(c.err), "err\n");
      assertEquals(containerState(c.cfg, c.id).status, "stopped");
    }),
});

Deno.test({
  name: "the started workload is in its cgroup in every hierarchy, with all its threads",
  ignore: skip,
  fn: () =>
    withContainer("sleep 30", async (c) => {
      const st = await create(c);
      await startContainer(c.cfg, c.id);
      // The init joined v1 hierarchies by thread and cgroup2 early by process: after execve
      // every placement must hold the workload, with each of its threads.
      await waitFor(
        () => Deno.readTextFileSync(`/proc/${st.pid}/cmdline`).startsWith("sleep"),
        10_000,
        "the workload's execve",
      );
      const tids = [...Deno.readDirSync(`/proc/${st.pid}/task`)].map((t) => Number(t.name));
      const files = openCgroup(`${prefix}/${c.id}`).procsFiles();
      assert(files.length > 0);
      for (const f of files) {
        const dir = f.slice(0, f.lastIndexOf("/"));
        const procs = Deno.readTextFileSync(f).trim().split("\n").map(Number);
        assertEquals(procs, [st.pid!], `${f}`);
        const threads = Deno.readTextFileSync(
          exists(`${dir}/tasks`) ? `${dir}/tasks` : `${dir}/cgroup.threads`,
        ).trim().split("\n").map(Number);
        assertEquals(threads.sort(), tids.sort(), `threads in ${dir}`);
      }
    }),
});

Deno.test({
  name: "a container killed by SIGKILL reports 137 and the signal",
  ignore: skip,
  fn: () =>
    withContainer("echo up; sleep 60", async (c) => {
      const st = await create(c);
      const exited = c.reaper.watch(st.pid!);
      await startContainer(c.cfg, c.id);
      assertEquals(containerState(c.cfg, c.id).status, "running");
      await waitFor(() => read(c.out).includes("up"), 10_000, "up");
      killContainer(c.cfg, c.id, "SIGKILL");
      assertEquals(await exited, { exitCode: 137, signal: "SIGKILL", known: true });
    }),
});

Deno.test({
  name: "a container limited to 16 MiB of memory runs",
  ignore: skip,
  fn: () =>
    withContainer(
      "echo ok; cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || " +
        "cat /sys/fs/cgroup/memory.max",
      async (c) => {
        const s = await run(c);
        assertEquals(s.exitCode, 0, read(c.err));
        assertEquals(read(c.out), "ok\n16777216\n");
      },
      { memoryBytes: 16 * 1024 * 1024 },
    ),
});

Deno.test({
  name: "stdout and stderr FIFOs reach a reader, and an unread FIFO never blocks the workload",
  ignore: skip,
  fn: () =>
    withContainer("echo to-fifo; echo to-unread-fifo >&2; exit 0", async (c) => {
      const dir = Deno.makeTempDirSync({ prefix: "polis-api-fifo-" });
      try {
        mkfifo(`${dir}/out`, 0o600);
        mkfifo(`${dir}/err`, 0o600);
        const st = await createContainer(c.cfg, {
          id: c.id,
          bundle: c.bundle.dir,
          stdio: { stdout: `${dir}/out`, stderr: `${dir}/err` },
        });
        const exited = c.reaper.watch(st.pid!);
        // The init holds the FIFOs read-write, so opening a reader does not block.
        const reader = await Deno.open(`${dir}/out`, { read: true });
        await startContainer(c.cfg, c.id);
        // Nobody ever reads stderr: the workload must still finish normally (no EPIPE).
        assertEquals((await exited).exitCode, 0);
        const text = new TextDecoder().decode(await new Response(reader.readable).arrayBuffer());
        assertEquals(text, "to-fifo\n");
      } finally {
        Deno.removeSync(dir, { recursive: true });
      }
    }),
});

Deno.test({
  name: "a root filesystem marked read-only cannot be written",
  ignore: skip,
  fn: () =>
    withContainer(
      "touch /x 2>/dev/null && echo rw || echo ro",
      async (c) => {
        await run(c);
        assertMatch(read(c.out), /^ro$/m);
      },
      { readonlyRoot: true },
    ),
});

Deno.test({
  name: "a non-executable command fails create with permission denied (failed_precondition)",
  ignore: skip,
  fn: () =>
    withContainer(["/etc/passwd"], async (c) => {
      let err: unknown;
      try {
        await create(c);
      } catch (e) {
        err = e;
      }
      assert(err instanceof PolisError, String(err));
      assertEquals(err.code, "failed_precondition");
      assertMatch(err.message, /permission denied/);
      assertEquals(listContainers(c.cfg), []);
    }),
});

Deno.test({
  name: "capabilities outside the spec's sets are gone after exec",
  ignore: skip,
  fn: () =>
    withContainer(
      "grep -E '^Cap(Eff|Prm|Bnd|Inh|Amb)' /proc/self/status; grep NoNewPrivs /proc/self/status",
      async (c) => {
        const s = await run(c);
        assertEquals(s.exitCode, 0, read(c.err));
        const out = read(c.out);
        // docker's default set: chown dac_override fowner fsetid kill setgid setuid setpcap
        // net_bind_service net_raw sys_chroot mknod audit_write setfcap = 0xa80425fb
        assertMatch(out, /^CapEff:\s+00000000a80425fb$/m);
        assertMatch(out, /^CapPrm:\s+00000000a80425fb$/m);
        assertMatch(out, /^CapBnd:\s+00000000a80425fb$/m);
        assertMatch(out, /^CapInh:\s+0000000000000000$/m);
        assertMatch(out, /^NoNewPrivs:\s+1$/m);
      },
      { edit: (cfg) => (cfg.process.noNewPrivileges = true) },
    ),
});

Deno.test({
  name: "the workload starts with no blocked or ignored signals and only fds 0-2",
  ignore: skip,
  fn: () =>
    withContainer(
      "grep -E '^Sig(Blk|Ign)' /proc/self/status; ls /proc/self/fd | wc -l",
      async (c) => {
        const s = await run(c);
        assertEquals(s.exitCode, 0, read(c.err));
        const out = read(c.out);
        assertMatch(out, /^SigBlk:\s+0000000000000000$/m);
        assertMatch(out, /^SigIgn:\s+0000000000000000$/m);
        // 0, 1, 2 and the fd ls uses to read the directory.
        assertMatch(out, /^4$/m);
      },
    ),
});

Deno.test({
  name: "without a network namespace /sys is the host's, read-only down to its submounts",
  ignore: skip,
  fn: () => {
    const probe = `/sys/fs/cgroup/pids/${prefix}-must-not-exist`;
    return withContainer(
      `mkdir ${probe} 2>/dev/null && echo wrote || echo refused; ` +
        "grep -c ' /sys' /proc/self/mountinfo",
      async (c) => {
        try {
          const s = await run(c);
          assertEquals(s.exitCode, 0, read(c.err));
          assertMatch(read(c.out), /^refused$/m);
          assert(Number(read(c.out).trim().split("\n").at(-1)) > 1, "no /sys submounts seen");
        } finally {
          try {
            Deno.removeSync(probe);
          } catch {
            // not made: good
          }
        }
      },
      {
        network: false,
        edit: (cfg) => {
          cfg.mounts = cfg.mounts.filter((m: { type: string }) => m.type !== "cgroup");
        },
      },
    );
  },
});

Deno.test({
  name: "a created container can be deleted without force: its init is killed and all is gone",
  ignore: skip,
  fn: () =>
    withContainer("echo never", async (c) => {
      const st = await create(c);
      const exited = c.reaper.watch(st.pid!);
      let dup: unknown;
      try {
        await createContainer(c.cfg, { id: c.id, bundle: c.bundle.dir });
      } catch (e) {
        dup = e;
      }
      assert(dup instanceof PolisError && dup.code === "conflict", String(dup));
      assertEquals(listContainers(c.cfg).map((s) => [s.id, s.status]), [[c.id, "created"]]);
      await deleteContainer(c.cfg, c.id);
      assertEquals((await exited).signal, "SIGKILL");
      assertEquals(listContainers(c.cfg), []);
      assertEquals(read(c.out), "");
    }),
});

Deno.test({
  name: "sysctls, rlimits and oom_score_adj from the spec are in effect",
  ignore: skip,
  fn: () =>
    withContainer(
      "cat /proc/sys/net/ipv4/ip_forward; ulimit -n; ulimit -Hn; cat /proc/self/oom_score_adj",
      async (c) => {
        const s = await run(c);
        assertEquals(s.exitCode, 0, read(c.err));
        assertEquals(read(c.out), "1\n1000\n2000\n500\n");
      },
      {
        edit: (cfg) => {
          cfg.linux.sysctl = { "net.ipv4.ip_forward": "1" };
          cfg.process.rlimits = [{ type: "RLIMIT_NOFILE", soft: 1000, hard: 2000 }];
          cfg.process.oomScoreAdj = 500;
        },
      },
    ),
});

Deno.test({
  name: "a container joins another container's network and uts namespaces by path",
  ignore: skip,
  fn: () =>
    withContainer("sleep 30", async (a) => {
      const sa = await createContainer(a.cfg, {
        id: a.id,
        bundle: a.bundle.dir,
        stdio: { stdout: a.out, stderr: a.err },
      });
      await startContainer(a.cfg, a.id);
      const netA = Deno.readLinkSync(`/proc/${sa.pid}/ns/net`);
      await withContainer("readlink /proc/self/ns/net; hostname", async (b) => {
        const s = await run(b);
        assertEquals(s.exitCode, 0, read(b.err));
        assertEquals(read(b.out), `${netA}\nshared-host\n`);
      }, {
        edit: (cfg) => {
          delete cfg.hostname;
          cfg.linux.namespaces = cfg.linux.namespaces
            .filter((n: { type: string }) => n.type !== "network" && n.type !== "uts")
            .concat([
              { type: "network", path: `/proc/${sa.pid}/ns/net` },
              { type: "uts", path: `/proc/${sa.pid}/ns/uts` },
            ]);
        },
      });
    }, { hostname: "shared-host" }),
});

Deno.test({
  name: "create+start+exit of `true` is measured",
  ignore: skip,
  fn: () =>
    withContainer(["true"], async (c) => {
      const t0 = performance.now();
      const s = await run(c);
      const ms = performance.now() - t0;
      assertEquals(s.exitCode, 0);
      console.log(`    create+start+exit of true: ${ms.toFixed(0)} ms`);
    }),
});

const NS_KINDS = ["mnt", "net", "uts", "ipc", "pid_for_children", "cgroup"];

/** Namespace links of every thread of this process, as "kind=link" strings. */
function threadNamespaces(): Set<string> {
  const out = new Set<string>();
  for (const t of Deno.readDirSync("/proc/self/task")) {
    for (const k of NS_KINDS) {
      try {
        out.add(`${k}=${Deno.readLinkSync(`/proc/self/task/${t.name}/ns/${k}`)}`);
      } catch {
        // the thread ended meanwhile
      }
    }
  }
  return out;
}

/** Pids whose parent is this process. */
/** Tools and polis CLIs/daemons that other test files run from this same process. */

/**
 * This process's children that could be a container's init or helper. `deno test --parallel`
 * runs other test files in this process too: their CLI and daemon processes (`main.ts CMD`)
 * and tools come and go meanwhile and are left out.
 */
function ourChildren(): number[] {
  const pids: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const m = /^PPid:\s+(\d+)$/m.exec(Deno.readTextFileSync(`/proc/${e.name}/status`));
      if (!m || Number(m[1]) !== Deno.pid) continue;
      const argv = Deno.readTextFileSync(`/proc/${e.name}/cmdline`).split("\0");
      // Only container inits and setup helpers count: other test files running in this
      // process spawn CLIs, daemons and tools (ip, nft, tar, …) at any moment.
      if (!argv.some((a) => a === "_init" || a === "_setup")) continue;
      pids.push(Number(e.name));
    } catch {
      // gone
    }
  }
  return pids.sort((a, b) => a - b);
}

Deno.test({
  name: "with the default Worker helper no thread of the caller changes namespaces",
  ignore: skip,
  fn: () =>
    withContainer("readlink /proc/self/ns/net", async (c) => {
      const before = threadNamespaces();
      const st = await create(c);
      // The terminated worker's thread, which did enter them, ends asynchronously.
      const foreign = () => [...threadNamespaces()].filter((n) => !before.has(n));
      await waitFor(() => foreign().length === 0, 5_000, `threads to leave ${foreign()}`);
      // The main thread never entered any.
      for (const k of NS_KINDS) {
        assert(before.has(`${k}=${Deno.readLinkSync(`/proc/thread-self/ns/${k}`)}`), k);
      }
      // The init is our own child (posix_spawn from the worker's thread), in a new net ns.
      const status = Deno.readTextFileSync(`/proc/${st.pid}/status`);
      assertMatch(status, new RegExp(`^PPid:\\s+${Deno.pid}$`, "m"));
      const exited = c.reaper.watch(st.pid!);
      await startContainer(c.cfg, c.id);
      assertEquals(await exited, { exitCode: 0, known: true });
      assert(!before.has(`net=${read(c.out).trim()}`), read(c.out));
    }),
});

Deno.test({
  name: "the `_setup` process helper still creates containers",
  ignore: skip,
  fn: () =>
    withContainer("echo via-process; exit 5", async (c) => {
      const st = await create(c, { helper: "process" });
      const exited = c.reaper.watch(st.pid!);
      await startContainer(c.cfg, c.id);
      assertEquals(await exited, { exitCode: 5, known: true });
      assertEquals(read(c.out), "via-process\n");
    }),
});

/** Our children that are inits started ahead of their container (`_init -`). */
function spareInits(): number[] {
  return ourChildren().filter((pid) => {
    try {
      return Deno.readTextFileSync(`/proc/${pid}/cmdline`).split("\0").includes("-");
    } catch {
      return false;
    }
  });
}

async function until<T>(what: string, fn: () => T | undefined, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

Deno.test({
  name:
    "with spareSetupWorker the next create gets an init started ahead of it, ended when dropped",
  ignore: skip,
  fn: () =>
    withContainer("echo spare", async (c) => {
      const cfg: RuntimeConfig = { ...c.cfg, spareSetupWorker: true };
      try {
        let ahead: number | undefined;
        for (const n of [1, 2]) {
          const id = `${c.id}-s${n}`;
          const st = await create(c, { cfg, id });
          // The second container's init is the one that was waiting before its create.
          if (n === 2) assertEquals(st.pid, ahead);
          const exited = c.reaper.watch(st.pid!);
          await startContainer(cfg, id);
          assertEquals(await exited, { exitCode: 0, known: true });
          await deleteContainer(cfg, id);
          if (n === 1) ahead = await until("a spare init", () => spareInits()[0]);
        }
        assertEquals(read(c.out), "spare\nspare\n");
        assertEquals(read(c.err), "");
      } finally {
        dropSpareWorker();
      }
      await until("the spare inits to end", () => spareInits().length ? undefined : true);
    }),
});

Deno.test({
  name: "a create refused after its init was started (duplicate id) leaves no process behind",
  ignore: skip,
  fn: () =>
    withContainer("sleep 30", async (c) => {
      const st = await create(c);
      const children = ourChildren();
      assert(children.includes(st.pid!), `${st.pid} not in ${children}`);
      let dup: unknown;
      try {
        await create(c);
      } catch (e) {
        dup = e;
      }
      assert(dup instanceof PolisError && dup.code === "conflict", String(dup));
      // Nothing new is left by the refused create, and the first init is still there. (Other
      // inits present before may end meanwhile: test files share this process.)
      assertEquals(ourChildren().filter((p) => !children.includes(p)), []);
      assert(ourChildren().includes(st.pid!), "the first container's init is gone");
    }),
});

Deno.test({
  name: "a namespace path that is no namespace fails create (invalid_argument), nothing left",
  ignore: skip,
  fn: () =>
    withContainer("true", async (c) => {
      const children = ourChildren();
      let err: unknown;
      try {
        await create(c);
      } catch (e) {
        err = e;
      }
      assert(err instanceof PolisError && err.code === "invalid_argument", String(err));
      assertMatch(err.message, /setns\(\/dev\/null, network\): EINVAL/);
      assertEquals(listContainers(c.cfg), []);
      // Nothing new is left (inits of other test files may end meanwhile).
      assertEquals(ourChildren().filter((p) => !children.includes(p)), []);
    }, {
      edit: (cfg) => {
        cfg.linux.namespaces = cfg.linux.namespaces
          .filter((n: { type: string }) => n.type !== "network")
          .concat([{ type: "network", path: "/dev/null" }]);
      },
    }),
});
