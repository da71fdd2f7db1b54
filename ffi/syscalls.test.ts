import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import {
  close,
  ErrnoError,
  mkfifo,
  mount,
  O_NONBLOCK,
  O_RDONLY,
  open,
  pipe2,
  read,
  recordingSyscalls,
  waitpid,
  WNOHANG,
  writeAll,
} from "./mod.ts";

function thrown<E>(fn: () => unknown, cls: new (...a: never[]) => E): E {
  try {
    fn();
  } catch (e) {
    if (e instanceof cls) return e;
    throw e;
  }
  throw new Error("expected an exception");
}

Deno.test("a failing open throws ErrnoError with ENOENT and the path", () => {
  const e = thrown(() => open("/nonexistent/polis-ffi", O_RDONLY), ErrnoError);
  assertEquals(e.code, "ENOENT");
  assertEquals(e.message, 'open("/nonexistent/polis-ffi"): ENOENT (No such file or directory)');
});

Deno.test("pipe2, write and read move bytes through real file descriptors", () => {
  const [r, w] = pipe2();
  try {
    writeAll(w, "hello");
    const buf = new Uint8Array(16);
    const n = read(r, buf);
    assertEquals(new TextDecoder().decode(buf.subarray(0, n)), "hello");
  } finally {
    close(r);
    close(w);
  }
});

Deno.test("mkfifo makes a FIFO that opens non-blocking for reading without a writer", () => {
  const dir = Deno.makeTempDirSync({ prefix: "polis-ffi-" });
  try {
    mkfifo(`${dir}/f`, 0o600);
    assert(Deno.statSync(`${dir}/f`).isFifo);
    const fd = open(`${dir}/f`, O_RDONLY | O_NONBLOCK);
    close(fd);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("mount of a missing target names source and target in the error", () => {
  const e = thrown(
    () => mount("none", "/nonexistent/polis-ffi", "tmpfs", 0),
    ErrnoError,
  );
  assertEquals(e.syscall, "mount");
  assert(e.message.startsWith('mount("none" on "/nonexistent/polis-ffi"): ENOENT'), e.message);
});

Deno.test("waitpid on a pid that is not our child reports ECHILD", () => {
  const e = thrown(() => waitpid(1, WNOHANG), ErrnoError);
  assertEquals(e.code, "ECHILD");
});

Deno.test("the recording fake records calls and lets overrides fail them", () => {
  const sys = recordingSyscalls({
    mount: () => {
      throw new ErrnoError("mount", 16, [], "x");
    },
  });
  sys.sethostname("box");
  thrown(() => sys.mount(null, "/", null, 0), ErrnoError);
  assertEquals(sys.calls.map((c) => c.name), ["sethostname", "mount"]);
  assertEquals(sys.named("sethostname"), [["box"]]);
});
