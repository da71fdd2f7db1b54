import {
  deepStrictEqual as assertEquals,
  match as assertMatch,
  ok as assert,
} from "node:assert/strict";
import { Errno, ErrnoError, errnoName, errnoNumber, isErrno } from "./errno.ts";

Deno.test("ErrnoError names the call, the arguments, the errno name and its meaning", () => {
  const e = new ErrnoError("mount", 1, [], `"overlay" on "/x"`);
  assertEquals(e.message, 'mount("overlay" on "/x"): EPERM (Operation not permitted)');
  assertEquals(e.code, "EPERM");
  assertEquals(e.errno, 1);
  assert(e.is("EPERM") && e.is(1) && !e.is("ENOENT"));
});

Deno.test("ErrnoError shows string arguments quoted when no detail is given", () => {
  const e = new ErrnoError("open", 2, ["/nope"]);
  assertEquals(e.message, 'open("/nope"): ENOENT (No such file or directory)');
});

Deno.test("errno names map both ways and unknown numbers still render", () => {
  assertEquals(errnoName(16), "EBUSY");
  assertEquals(errnoName(22), "EINVAL");
  assertEquals(errnoNumber("EACCES"), 13);
  assertEquals(Errno.ENOENT, 2);
  assertMatch(errnoName(4095), /^E4095$/);
  assert(isErrno(new ErrnoError("x", 17), "EEXIST"));
  assert(!isErrno(new Error("x"), "EEXIST"));
});
