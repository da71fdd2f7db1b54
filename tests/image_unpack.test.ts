/**
 * Layer unpacking: metadata kept, whiteouts converted (with a recording fake of
 * mknod/lsetxattr), and every hostile archive refused without writing outside.
 */
import { deepStrictEqual as eq, ok, rejects } from "node:assert/strict";
import { zstdCompressSync } from "node:zlib";
import { PolisError } from "../src/core/errors.ts";
import type { FsOps } from "../src/image/fsops.ts";
import { unpackLayerAtomically, type UnpackOptions } from "../src/image/unpack.ts";
import { gzip, hostileLayers, isRoot, sha256, streamOf, tarBytes } from "./helpers/image.ts";

interface Call {
  op: "mknod" | "lsetxattr";
  path: string;
  args: unknown[];
}

/** Records calls; mknod leaves an empty file so later lstat sees something there. */
function fakeOps(calls: Call[]): FsOps {
  return {
    mknod(path, mode, major, minor) {
      calls.push({ op: "mknod", path, args: [mode, major, minor] });
      Deno.writeFileSync(path, new Uint8Array(), { createNew: true });
    },
    lsetxattr(path, name, value) {
      calls.push({ op: "lsetxattr", path, args: [name, new TextDecoder().decode(value)] });
    },
  };
}

async function withTemp(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "polis-unpack-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function opts(over: Partial<UnpackOptions> = {}): UnpackOptions {
  return {
    format: "plain",
    ops: fakeOps([]),
    privileged: isRoot,
    label: "layer sha256:test",
    ...over,
  };
}

function listTree(dir: string, prefix = ""): string[] {
  const out: string[] = [];
  for (const e of [...Deno.readDirSync(dir)].sort((a, b) => a.name.localeCompare(b.name))) {
    const rel = prefix + e.name;
    out.push(rel);
    if (e.isDirectory) out.push(...listTree(`${dir}/${e.name}`, rel + "/"));
  }
  return out;
}

Deno.test("unpack keeps modes with setuid, owners, mtimes, symlinks and hard links", async () => {
  await withTemp(async (dir) => {
    const mtime = new Date(1_600_000_000_000);
    const bytes = await tarBytes([
      { name: "./", type: "directory", mode: 0o755 },
      { name: "./bin/", type: "directory", mode: 0o711, mtime },
      { name: "./bin/tool", body: "#!/bin/sh\n", mode: 0o4755, uid: 1000, gid: 1001, mtime },
      { name: "./bin/alias", type: "link", linkname: "./bin/tool" },
      { name: "./bin/sh", type: "symlink", linkname: "/bin/busybox", uid: 7, gid: 8 },
      { name: "deep/implicit/file", body: "x" },
      { name: "./fifo", type: "fifo", mode: 0o600 },
    ]);
    const final = `${dir}/layer`;
    const res = await unpackLayerAtomically(streamOf(bytes), final, dir, {
      ...opts(),
      ops: {
        mknod: (p, mode) => Deno.writeFileSync(p, new Uint8Array(), { mode: mode & 0o777 }),
        lsetxattr: () => {},
      },
      expectedDiffId: await sha256(bytes),
    });
    eq(res.diffId, await sha256(bytes));
    eq(res.size, 11);
    const tool = Deno.lstatSync(`${final}/bin/tool`);
    eq(tool.mode! & 0o7777, 0o4755);
    eq(tool.mtime?.getTime(), mtime.getTime());
    eq(tool.nlink, 2);
    eq(Deno.lstatSync(`${final}/bin/alias`).ino, tool.ino);
    eq(Deno.readLinkSync(`${final}/bin/sh`), "/bin/busybox");
    eq(Deno.lstatSync(`${final}/bin`).mode! & 0o7777, 0o711);
    eq(Deno.lstatSync(`${final}/bin`).mtime?.getTime(), mtime.getTime());
    eq(Deno.lstatSync(`${final}/deep/implicit`).mode! & 0o777, 0o755);
    eq(Deno.lstatSync(final).mode! & 0o777, 0o755);
    if (isRoot) {
      eq([tool.uid, tool.gid], [1000, 1001]);
      const sh = Deno.lstatSync(`${final}/bin/sh`);
      eq([sh.uid, sh.gid], [7, 8]);
    }
    eq(listTree(dir).filter((p) => !p.startsWith("layer")), [], "no temp dir left");
  });
});

Deno.test("gzip layers are recognised by their magic bytes; the diff id is of the tar", async () => {
  await withTemp(async (dir) => {
    const bytes = await tarBytes([{ name: "hello", body: "hi" }]);
    const res = await unpackLayerAtomically(streamOf(await gzip(bytes)), `${dir}/l`, dir, opts());
    eq(res.diffId, await sha256(bytes));
    eq(Deno.readTextFileSync(`${dir}/l/hello`), "hi");
  });
});

Deno.test("overlay format turns .wh. entries into 0:0 char devices and opaque xattrs", async () => {
  await withTemp(async (dir) => {
    const calls: Call[] = [];
    const bytes = await tarBytes([
      { name: "etc/", type: "directory" },
      { name: "etc/.wh.passwd" },
      { name: "var/", type: "directory" },
      { name: "var/cache/", type: "directory" },
      { name: "var/cache/.wh..wh..opq" },
      { name: "var/cache/new", body: "n" },
      { name: ".wh.opt" },
      { name: "opt/", type: "directory" }, // recreated after its whiteout: opaque
      { name: ".wh.srv" },
      { name: "srv/x", body: "x" }, // implicit parent over a whiteout: opaque too
      { name: ".wh..wh.plnk/", type: "directory" },
      { name: ".wh..wh.plnk/123.456", body: "aufs bookkeeping" },
    ]);
    const res = await unpackLayerAtomically(streamOf(bytes), `${dir}/l`, dir, {
      ...opts({ format: "overlay", ops: fakeOps(calls) }),
    });
    const l = `${dir}/l`;
    // Calls happen in the temp dir, before the rename to the final name.
    const rel = calls.map((c) => ({ ...c, path: c.path.replace(/\/unpack-[^/]+/, "/l") }));
    eq(rel, [
      { op: "mknod", path: `${l}/etc/passwd`, args: [0o020000, 0, 0] },
      { op: "lsetxattr", path: `${l}/var/cache`, args: ["trusted.overlay.opaque", "y"] },
      { op: "mknod", path: `${l}/opt`, args: [0o020000, 0, 0] },
      { op: "lsetxattr", path: `${l}/opt`, args: ["trusted.overlay.opaque", "y"] },
      { op: "mknod", path: `${l}/srv`, args: [0o020000, 0, 0] },
      { op: "lsetxattr", path: `${l}/srv`, args: ["trusted.overlay.opaque", "y"] },
    ]);
    eq(res.opaqueDirs.sort(), ["opt", "srv", "var/cache"]);
    eq(listTree(l), [
      "etc",
      "etc/passwd",
      "opt",
      "srv",
      "srv/x",
      "var",
      "var/cache",
      "var/cache/new",
    ]);
    ok(Deno.lstatSync(`${l}/opt`).isDirectory);
  });
});

Deno.test("plain format keeps whiteout markers as files for the copy fallback", async () => {
  await withTemp(async (dir) => {
    const calls: Call[] = [];
    const bytes = await tarBytes([
      { name: "etc/.wh.passwd" },
      { name: "var/.wh..wh..opq" },
      { name: "var/new", body: "n" },
    ]);
    await unpackLayerAtomically(streamOf(bytes), `${dir}/l`, dir, opts({ ops: fakeOps(calls) }));
    eq(calls.length, 0);
    eq(listTree(`${dir}/l`), ["etc", "etc/.wh.passwd", "var", "var/.wh..wh..opq", "var/new"]);
  });
});

Deno.test("device nodes are made only when privileged", async () => {
  await withTemp(async (dir) => {
    const calls: Call[] = [];
    const bytes = await tarBytes([
      { name: "dev/null", type: "character-device", devmajor: 1, devminor: 3, mode: 0o666 },
    ]);
    await unpackLayerAtomically(streamOf(bytes), `${dir}/a`, dir, {
      ...opts({ ops: fakeOps(calls), privileged: false }),
    });
    eq(calls.length, 0);
    eq(listTree(`${dir}/a`), ["dev"]);
    await unpackLayerAtomically(streamOf(bytes), `${dir}/b`, dir, {
      ...opts({ ops: fakeOps(calls), privileged: true }),
    });
    eq(calls.map((c) => [c.op, c.args]), [["mknod", [0o020666, 1, 3]]]);
  });
});

for (const [name, entries] of Object.entries(hostileLayers("/OUTSIDE"))) {
  Deno.test(`a hostile layer is refused and writes nothing outside: ${name}`, async () => {
    await withTemp(async (dir) => {
      // The "outside" world: a watched dir with a victim file, next to the unpack root.
      const outside = `${dir}/outside`;
      Deno.mkdirSync(outside);
      Deno.writeTextFileSync(`${outside}/victim`, "original");
      const root = `${dir}/root`;
      Deno.mkdirSync(`${root}/tmp`, { recursive: true });
      const real = JSON.parse(JSON.stringify(entries).replaceAll("/OUTSIDE", outside));
      for (const format of ["plain", "overlay"] as const) {
        const bytes = await tarBytes(real);
        await rejects(
          unpackLayerAtomically(streamOf(bytes), `${root}/layer`, `${root}/tmp`, opts({ format })),
          (e: unknown) => {
            ok(e instanceof PolisError, String(e));
            eq(e.code, "invalid_argument");
            ok(/^layer sha256:test: entry ".*" /.test(e.message), e.message);
            ok(/escapes the layer|symlink|not in the layer/.test(e.message), e.message);
            return true;
          },
        );
        eq(listTree(outside), ["victim"]);
        eq(Deno.readTextFileSync(`${outside}/victim`), "original");
        eq(Deno.lstatSync(`${outside}/victim`).nlink, 1);
        eq(listTree(root), ["tmp"], "no layer and no temp dir left");
      }
      eq(listTree(dir), ["outside", "outside/victim", "root", "root/tmp"]);
    });
  });
}

Deno.test("a GNU sparse entry is refused instead of silently dropped", async () => {
  await withTemp(async (dir) => {
    const bytes = await tarBytes([{ name: "sparse", body: "data" }]);
    // Turn the file's typeflag into 'S' and fix the header checksum.
    bytes[156] = "S".charCodeAt(0);
    bytes.fill(0x20, 148, 156);
    const sum = bytes.subarray(0, 512).reduce((a, b) => a + b, 0);
    bytes.set(new TextEncoder().encode(sum.toString(8).padStart(6, "0") + "\0 "), 148);
    await rejects(
      unpackLayerAtomically(streamOf(bytes), `${dir}/l`, dir, opts()),
      /entry "sparse" has an unsupported tar entry type/,
    );
    eq(listTree(dir), []);
  });
});

Deno.test("the exact refusal message names the layer and the entry", async () => {
  await withTemp(async (dir) => {
    const bytes = await tarBytes([{ name: "../x", body: "x" }]);
    await rejects(
      unpackLayerAtomically(streamOf(bytes), `${dir}/l`, dir, opts({ label: "layer sha256:abc" })),
      { message: 'layer sha256:abc: entry "../x" escapes the layer' },
    );
  });
});

Deno.test("a layer whose content does not match its diff id is refused and removed", async () => {
  await withTemp(async (dir) => {
    const bytes = await tarBytes([{ name: "a", body: "a" }]);
    await rejects(
      unpackLayerAtomically(streamOf(bytes), `${dir}/l`, dir, {
        ...opts(),
        expectedDiffId: "sha256:" + "0".repeat(64),
      }),
      /uncompressed content is sha256:[0-9a-f]{64}, but the image config says sha256:0{64}/,
    );
    eq(listTree(dir), []);
  });
});

Deno.test("zstd layers are inflated; the diff id is of the tar", async () => {
  await withTemp(async (dir) => {
    const bytes = await tarBytes([{ name: "z", body: "zstd!" }]);
    const res = await unpackLayerAtomically(
      streamOf(zstdCompressSync(bytes)),
      `${dir}/l`,
      dir,
      opts(),
    );
    eq(res.diffId, await sha256(bytes));
    eq(Deno.readTextFileSync(`${dir}/l/z`), "zstd!");
  });
});

Deno.test("xz, corrupt gzip and garbage layers are refused with a clear message", async () => {
  await withTemp(async (dir) => {
    const xz = new Uint8Array([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0, 1, 2]);
    await rejects(
      unpackLayerAtomically(streamOf(xz), `${dir}/l`, dir, opts()),
      { message: "layer sha256:test: xz-compressed content is not supported" },
    );
    const gz = await gzip(await tarBytes([{ name: "a", body: "a".repeat(5000) }]));
    gz[40] ^= 0xff;
    await rejects(
      unpackLayerAtomically(streamOf(gz), `${dir}/l`, dir, opts()),
      /^PolisError: layer sha256:test: /,
    );
    await rejects(
      unpackLayerAtomically(streamOf(new Uint8Array(1024).fill(9)), `${dir}/l`, dir, opts()),
      /layer sha256:test: malformed tar/,
    );
    eq(listTree(dir), []);
  });
});

Deno.test("a dir later replaced by a symlink does not get its mtime set through the link", async () => {
  await withTemp(async (dir) => {
    const outside = `${dir}/outside`;
    Deno.mkdirSync(`${outside}/b`, { recursive: true });
    const before = Deno.statSync(`${outside}/b`).mtime?.getTime();
    const bytes = await tarBytes([
      { name: "a/", type: "directory" },
      { name: "a/b/", type: "directory", mtime: new Date(1000) },
      { name: "a", type: "symlink", linkname: outside },
    ]);
    await unpackLayerAtomically(streamOf(bytes), `${dir}/l`, `${dir}`, opts());
    eq(Deno.readLinkSync(`${dir}/l/a`), outside);
    eq(Deno.statSync(`${outside}/b`).mtime?.getTime(), before);
  });
});
