import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import {
  close,
  ErrnoError,
  O_CLOEXEC,
  pipe2,
  posixSpawn,
  readAll,
  waitpid,
  type WaitStatus,
} from "./mod.ts";

const env = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"];

/** Runs `sh -c script` with a pipe on fd 5; returns what it wrote there and its status. */
function runSh(script: string, extraEnv: string[] = []): { out: string; status: WaitStatus } {
  const [r, w] = pipe2(O_CLOEXEC);
  let pid: number;
  try {
    pid = posixSpawn("/bin/sh", ["sh", "-c", script], [...env, ...extraEnv], { dup2: [[w, 5]] });
  } finally {
    close(w);
  }
  try {
    return { out: new TextDecoder().decode(readAll(r)), status: waitpid(pid, 0)! };
  } finally {
    close(r);
  }
}

Deno.test("posix_spawn runs the program with argv and env, and a dup2 target is inherited", () => {
  const { out, status } = runSh('echo "$0 $FOO" >&5; exit 3', ["FOO=bar"]);
  assertEquals(out, "sh bar\n");
  assertEquals(status.exitCode, 3);
});

Deno.test("the child starts with no ignored or blocked signals (Deno ignores SIGPIPE)", () => {
  const { out } = runSh("grep -E '^Sig(Ign|Blk)' /proc/self/status >&5");
  assert(/^SigIgn:\s+0+$/m.test(out), out);
  assert(/^SigBlk:\s+0+$/m.test(out), out);
});

Deno.test("close-on-exec descriptors of the parent do not reach the child", () => {
  const [r2, w2] = pipe2(O_CLOEXEC);
  try {
    const { out } = runSh(`test -e /proc/self/fd/${w2} && echo leaked >&5 || echo ok >&5`);
    assertEquals(out, "ok\n");
  } finally {
    close(r2);
    close(w2);
  }
});

Deno.test("a missing program fails in the parent with ENOENT", () => {
  let err: unknown;
  try {
    posixSpawn("/nonexistent/polis-spawn", ["x"], env);
  } catch (e) {
    err = e;
  }
  assert(err instanceof ErrnoError, String(err));
  assertEquals(err.code, "ENOENT");
  assertEquals(err.syscall, "posix_spawn");
});

Deno.test("Deno never reaps a posix_spawn child: its status waits for our waitpid", async () => {
  const pid = posixSpawn("/bin/sh", ["sh", "-c", "exit 7"], env);
  // Let Deno's own child handling run (SIGCHLD, its reaping of Deno.Command children).
  const o = await new Deno.Command("/bin/sh", { args: ["-c", "exit 2"] }).output();
  assertEquals(o.code, 2);
  await new Promise((r) => setTimeout(r, 200));
  assertEquals(waitpid(pid, 0), { pid, exitCode: 7 });
});
