import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { fakeFs } from "./fsview.ts";
import { insideRoot, secureJoin } from "./securejoin.ts";

const fs = fakeFs({
  "/r/etc": { type: "link", target: "/host/etc" },
  "/r/var": { type: "dir" },
  "/r/var/run": { type: "link", target: "../run" },
  "/r/run": { type: "dir" },
  "/r/up": { type: "link", target: "../../../../outside" },
  "/r/loop": { type: "link", target: "/loop" },
  "/r/abs": { type: "link", target: "/var" },
});

Deno.test("an absolute symlink in the rootfs resolves inside the rootfs, not on the host", () => {
  assertEquals(secureJoin("/r", "/etc/passwd", fs), "/r/host/etc/passwd");
});

Deno.test("relative symlinks and .. are followed but clamped at the root", () => {
  assertEquals(secureJoin("/r", "/var/run/x", fs), "/r/run/x");
  assertEquals(secureJoin("/r", "/up/x", fs), "/r/outside/x");
  assertEquals(secureJoin("/r", "/../../x", fs), "/r/x");
  assertEquals(secureJoin("/r", "/abs/run", fs), "/r/run");
  assertEquals(secureJoin("/r", "/abs/x", fs), "/r/var/x");
});

Deno.test("missing components are kept as written and the root itself resolves to root", () => {
  assertEquals(secureJoin("/r", "/new/dir", fs), "/r/new/dir");
  assertEquals(secureJoin("/r", "/", fs), "/r");
  assertEquals(secureJoin("/r/", "dev//pts/.", fs), "/r/dev/pts");
});

Deno.test("a symlink loop is refused instead of spinning", () => {
  let msg = "";
  try {
    secureJoin("/r", "/loop/x", fs);
  } catch (e) {
    msg = (e as Error).message;
  }
  assertEquals(msg, 'cannot resolve "/loop/x" in /r: too many symlinks');
});

Deno.test("insideRoot strips the root prefix", () => {
  assertEquals(insideRoot("/r", "/r/dev/pts"), "/dev/pts");
  assertEquals(insideRoot("/r", "/r"), "/");
});
