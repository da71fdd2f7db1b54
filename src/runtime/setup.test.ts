import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import {
  CLONE_FS,
  CLONE_NEWIPC,
  CLONE_NEWNET,
  CLONE_NEWNS,
  CLONE_NEWPID,
  CLONE_NEWUTS,
  ErrnoError,
  O_CLOEXEC,
  O_RDWR,
  recordingSyscalls,
} from "../../ffi/mod.ts";
import { PolisError } from "../core/mod.ts";
import { enterNamespaces, spawnInit, syncFdTarget } from "./setup.ts";
import { GO_FD_ENV, SYNC_FD_ENV } from "./protocol.ts";
import type { InitPlan } from "./plan.ts";

function plan(namespaces: InitPlan["namespaces"]): InitPlan {
  return { namespaces } as InitPlan;
}

Deno.test("new namespaces are created in one unshare, without the cgroup one (the init's)", () => {
  const sys = recordingSyscalls();
  enterNamespaces(
    plan([{ type: "pid" }, { type: "mount" }, { type: "uts" }, { type: "ipc" }, {
      type: "cgroup",
    }]),
    sys,
  );
  assertEquals(sys.named("unshare"), [[CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC]]);
});

Deno.test("namespaces given by path are joined first, the mount one last with its own fs", () => {
  let fd = 10;
  const sys = recordingSyscalls({ open: () => fd++ });
  enterNamespaces(
    plan([
      { type: "mount", path: "/proc/9/ns/mnt" },
      { type: "network", path: "/run/netns/n1" },
      { type: "pid" },
    ]),
    sys,
  );
  assertEquals(sys.calls.map((c) => [c.name, ...c.args]), [
    ["open", "/run/netns/n1", 0o2000000],
    ["open", "/proc/9/ns/mnt", 0o2000000],
    ["setns", 10, CLONE_NEWNET, "/run/netns/n1"],
    ["unshare", CLONE_FS],
    ["setns", 11, CLONE_NEWNS, "/proc/9/ns/mnt"],
    ["unshare", CLONE_NEWPID],
  ]);
});

const cmd = { path: "/usr/bin/polis", argv: ["polis"], env: ["A=1"] };

/** A fake kernel for spawnInit: fds from `fds`, the init's report from `report`. */
function fakeKernel(report: string, fds = [7, 5, 6]) {
  const bytes = new TextEncoder().encode(report);
  let sent = false;
  return recordingSyscalls({
    open: () => fds[0],
    pipe2: () => [fds[1], fds[2]],
    posixSpawn: () => 4242,
    read: (_fd, buf) => {
      if (sent) return 0;
      sent = true;
      buf.set(bytes);
      return bytes.length;
    },
  });
}

Deno.test("spawnInit opens /dev/null and the sync pipe before entering the namespaces", () => {
  const sys = fakeKernel('{"ok":true}\n');
  const r = spawnInit({ namespaces: [{ type: "pid" }], stateDir: "/s", stdio: "null", cmd }, sys);
  assertEquals(r, { ok: true, pid: 4242 });
  const order = sys.calls.map((c) => c.name).filter((n) =>
    ["open", "pipe2", "unshare", "posixSpawn"].includes(n)
  );
  assertEquals(order, ["open", "pipe2", "unshare", "posixSpawn"]);
  assertEquals(sys.named("open")[0], ["/dev/null", O_RDWR | O_CLOEXEC]);
  assertEquals(sys.named("pipe2")[0], [O_CLOEXEC]);
});

Deno.test("the init gets its pipe ends at fixed fds >= 3 that no source uses, then /dev/null", () => {
  // /dev/null is fd 3, the go pipe's read end 4, the sync pipe's write end 6: the targets avoid
  // them (the read end 5 stays behind in the parent, so the child's copy may be replaced).
  const sys = fakeKernel('{"ok":true}\n', [3, 5, 6]);
  spawnInit({ namespaces: [], stateDir: "/s", stdio: "null", cmd, goFd: 4 }, sys);
  const [path, argv, env, opts] = sys.named("posixSpawn")[0] as [
    string,
    string[],
    string[],
    { dup2: [number, number][] },
  ];
  assertEquals(path, "/usr/bin/polis");
  assertEquals(argv, ["polis", "_init", "/s"]);
  assertEquals(env, ["A=1", `${SYNC_FD_ENV}=5`, `${GO_FD_ENV}=7`]);
  assertEquals(opts.dup2, [[6, 5], [4, 7], [3, 0], [3, 1], [3, 2]]);
  // Our copy of the write end is closed right after the spawn, everything else at the end.
  assertEquals(sys.named("close").map(([fd]) => fd), [6, 5, 3]);
});

Deno.test("with inherited stdio nothing is opened and only the sync pipe is passed", () => {
  const sys = fakeKernel('{"ok":true}\n', [9, 3, 4]);
  spawnInit({ namespaces: [], stateDir: "/s", stdio: "inherit", cmd }, sys);
  assertEquals(sys.named("open"), []);
  const opts = sys.named("posixSpawn")[0][3] as { dup2: [number, number][] };
  assertEquals(opts.dup2, [[4, 3]]);
});

Deno.test("an init that reports a failure is killed and reaped, and its error returned", () => {
  const sys = fakeKernel('{"ok":false,"error":"exec: \\"x\\": not found","code":"not_found"}\n');
  const r = spawnInit({ namespaces: [], stateDir: "/s", stdio: "null", cmd }, sys);
  assertEquals(r, { ok: false, error: 'exec: "x": not found', code: "not_found" });
  assertEquals(sys.named("kill"), [[4242, 9]]);
  assertEquals(sys.named("waitpid"), [[4242, 0]]);
});

Deno.test("an init that exits without a report is reaped and reported as internal", () => {
  const sys = fakeKernel("");
  const r = spawnInit({ namespaces: [], stateDir: "/s", stdio: "null", cmd }, sys);
  assertEquals(r.ok, false);
  assertEquals(!r.ok && r.code, "internal");
  assertEquals(sys.named("waitpid"), [[4242, 0]]);
});

Deno.test("a failing posix_spawn is an internal error and leaves no descriptor open", () => {
  const sys = recordingSyscalls({
    open: () => 7,
    pipe2: () => [5, 6],
    posixSpawn: () => {
      throw new ErrnoError("posix_spawn", 2, ["/usr/bin/polis"]);
    },
  });
  const r = spawnInit({ namespaces: [], stateDir: "/s", stdio: "null", cmd }, sys);
  assertEquals(r.ok, false);
  assertEquals(!r.ok && r.code, "internal");
  assert(!r.ok && r.error.startsWith("cannot start the container init: posix_spawn"), String(r));
  assertEquals(sys.named("close").map(([fd]) => fd).sort(), [5, 6, 7]);
});

Deno.test("a namespace that cannot be joined is an invalid argument; the fds are closed", () => {
  const sys = recordingSyscalls({
    open: (p) => {
      if (p === "/bad/ns") throw new ErrnoError("open", 2, [p]);
      return 7;
    },
    pipe2: () => [5, 6],
  });
  let err: unknown;
  try {
    spawnInit({
      namespaces: [{ type: "network", path: "/bad/ns" }],
      stateDir: "/s",
      stdio: "null",
      cmd,
    }, sys);
  } catch (e) {
    err = e;
  }
  assert(err instanceof PolisError && err.code === "invalid_argument", String(err));
  assertEquals(sys.named("posixSpawn"), []);
  assertEquals(sys.named("close").map(([fd]) => fd).sort(), [5, 6, 7]);
});

Deno.test("syncFdTarget picks the lowest fd >= 3 outside the taken ones", () => {
  assertEquals(syncFdTarget([]), 3);
  assertEquals(syncFdTarget([3, 4, -1, 6]), 5);
  assertEquals(syncFdTarget([0, 1, 2]), 3);
});
