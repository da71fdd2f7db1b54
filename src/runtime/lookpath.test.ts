import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { PolisError } from "../core/mod.ts";
import { fakeFs } from "./fsview.ts";
import { DEFAULT_PATH, lookPath, pathFromEnv } from "./lookpath.ts";

const fs = fakeFs({
  "/bin": { type: "dir" },
  "/bin/sh": { type: "link", target: "busybox" },
  "/bin/busybox": { type: "file", mode: 0o755 },
  "/usr/bin/noexec": { type: "file", mode: 0o644 },
  "/usr/local/bin/noexec": { type: "file", mode: 0o644 },
  "/bin/noexec": { type: "file", mode: 0o755 },
  "/opt/data": { type: "file", mode: 0o600 },
  "/app/run": { type: "file", mode: 0o700 },
  "/bin/dir": { type: "dir" },
});

function failure(fn: () => unknown): PolisError {
  try {
    fn();
  } catch (e) {
    if (e instanceof PolisError) return e;
    throw e;
  }
  throw new Error("expected a failure");
}

Deno.test("a bare name is searched in PATH order, following symlinks", () => {
  assertEquals(lookPath("sh", "/usr/bin:/bin", "/", fs), "/bin/sh");
  assertEquals(lookPath("noexec", "/usr/bin:/bin", "/", fs), "/bin/noexec");
});

Deno.test("a name not in PATH is not_found with docker's message", () => {
  const e = failure(() => lookPath("nope", "/usr/bin:/bin", "/", fs));
  assertEquals(e.code, "not_found");
  assertEquals(e.message, 'exec: "nope": executable file not found in $PATH');
});

Deno.test("a file found only without execute permission is permission denied", () => {
  const e = failure(() => lookPath("noexec", "/usr/local/bin:/usr/bin", "/", fs));
  assertEquals(e.code, "failed_precondition");
  assert(e.message.includes("permission denied"), e.message);
});

Deno.test("a path with a slash is used as given, relative to cwd", () => {
  assertEquals(lookPath("/bin/busybox", "", "/", fs), "/bin/busybox");
  assertEquals(lookPath("./run", "", "/app", fs), "./run");
  assertEquals(failure(() => lookPath("/opt/data", "", "/", fs)).code, "failed_precondition");
  assertEquals(failure(() => lookPath("/bin/dir", "", "/", fs)).code, "failed_precondition");
  const e = failure(() => lookPath("/missing", "", "/", fs));
  assertEquals(e.code, "not_found");
  assertEquals(e.message, 'exec: "/missing": stat /missing: no such file or directory');
});

Deno.test("PATH comes from the spec env, with a default when unset", () => {
  assertEquals(pathFromEnv(["A=1", "PATH=/x:/y"]), "/x:/y");
  assertEquals(pathFromEnv(["A=1"]), DEFAULT_PATH);
});
