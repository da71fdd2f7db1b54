import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { parseMountOptions } from "./mountopts.ts";
import {
  MS_BIND,
  MS_NODEV,
  MS_NOEXEC,
  MS_NOSUID,
  MS_PRIVATE,
  MS_RDONLY,
  MS_REC,
  MS_SLAVE,
  MS_STRICTATIME,
} from "../../ffi/mod.ts";

Deno.test("flag options become MS_* flags and the rest becomes the data string", () => {
  const p = parseMountOptions(["nosuid", "strictatime", "mode=755", "size=65536k"], "tmpfs");
  assertEquals(p.flags, MS_NOSUID | MS_STRICTATIME);
  assertEquals(p.data, "mode=755,size=65536k");
  assertEquals(p.bind, false);
  assertEquals(p.propagation, []);
});

Deno.test("rbind with ro is a recursive read-only bind with propagation kept apart", () => {
  const p = parseMountOptions(["rbind", "ro", "rslave", "nodev"], "none");
  assertEquals(p.flags, MS_BIND | MS_REC | MS_RDONLY | MS_NODEV);
  assertEquals(p.propagation, [MS_SLAVE | MS_REC]);
  assert(p.bind);
});

Deno.test("type bind implies MS_BIND; later options override earlier ones", () => {
  const p = parseMountOptions(["ro", "rw", "noexec", "private"], "bind");
  assertEquals(p.flags, MS_BIND | MS_NOEXEC);
  assertEquals(p.propagation, [MS_PRIVATE]);
  assert(p.bind);
});

Deno.test("devpts options keep newinstance and modes as data, ignore tmpcopyup", () => {
  const p = parseMountOptions([
    "nosuid",
    "noexec",
    "newinstance",
    "ptmxmode=0666",
    "mode=0620",
    "gid=5",
    "tmpcopyup",
  ]);
  assertEquals(p.flags, MS_NOSUID | MS_NOEXEC);
  assertEquals(p.data, "newinstance,ptmxmode=0666,mode=0620,gid=5");
});
