/**
 * The rootfs mounts the engine asks the runtime for (overlay, bind, unmount), as root, in
 * temp dirs that are unmounted and removed afterwards.
 */

import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { bindMount, mountOverlay, unmount } from "../src/runtime/mod.ts";
import { isRoot } from "./helpers/bundle.ts";

const skip = !isRoot();
if (skip) console.log("runtime_rootfs tests skipped: they need root");

function mounted(path: string): boolean {
  return Deno.readTextFileSync("/proc/self/mountinfo").split("\n").some((l) =>
    l.split(" ")[4] === path
  );
}

async function inTemp(fn: (dir: string) => void | Promise<void>): Promise<void> {
  const dir = Deno.makeTempDirSync({ prefix: "polis-rootfs-" });
  try {
    await fn(dir);
  } finally {
    for (const l of Deno.readTextFileSync("/proc/self/mountinfo").split("\n").reverse()) {
      const mp = l.split(" ")[4];
      if (mp?.startsWith(dir)) unmount(mp);
    }
    Deno.removeSync(dir, { recursive: true });
  }
}

Deno.test({
  name: "an overlay merges its layers top-first and writes go to the upper dir",
  ignore: skip,
  fn: () =>
    inTemp((d) => {
      for (const p of ["l1", "l2", "up", "work", "merged"]) Deno.mkdirSync(`${d}/${p}`);
      Deno.writeTextFileSync(`${d}/l1/a`, "from l1");
      Deno.writeTextFileSync(`${d}/l1/b`, "from l1");
      Deno.writeTextFileSync(`${d}/l2/b`, "from l2");
      mountOverlay(
        { lowerdirs: [`${d}/l2`, `${d}/l1`], upperdir: `${d}/up`, workdir: `${d}/work` },
        `${d}/merged`,
      );
      assert(mounted(`${d}/merged`));
      assertEquals(Deno.readTextFileSync(`${d}/merged/a`), "from l1");
      assertEquals(Deno.readTextFileSync(`${d}/merged/b`), "from l2");
      Deno.writeTextFileSync(`${d}/merged/c`, "new");
      assertEquals(Deno.readTextFileSync(`${d}/up/c`), "new");
      unmount(`${d}/merged`);
      assert(!mounted(`${d}/merged`));
      unmount(`${d}/merged`); // a second unmount is not an error
    }),
});

Deno.test({
  name: "an overlay with many long layer paths still mounts",
  ignore: skip,
  fn: () =>
    inTemp((d) => {
      const lowers: string[] = [];
      for (let i = 0; i < 60; i++) {
        const p = `${d}/layers/${"x".repeat(64)}-${String(i).padStart(3, "0")}/fs`;
        Deno.mkdirSync(p, { recursive: true });
        Deno.writeTextFileSync(`${p}/f${i}`, String(i));
        lowers.push(p);
      }
      for (const p of ["up", "work", "merged"]) Deno.mkdirSync(`${d}/${p}`);
      mountOverlay({ lowerdirs: lowers, upperdir: `${d}/up`, workdir: `${d}/work` }, `${d}/merged`);
      assertEquals(Deno.readTextFileSync(`${d}/merged/f0`), "0");
      assertEquals(Deno.readTextFileSync(`${d}/merged/f59`), "59");
    }),
});

Deno.test({
  name: "a read-only bind mount shows the source and refuses writes",
  ignore: skip,
  fn: () =>
    inTemp((d) => {
      Deno.mkdirSync(`${d}/src`);
      Deno.mkdirSync(`${d}/dst`);
      Deno.writeTextFileSync(`${d}/src/f`, "x");
      bindMount(`${d}/src`, `${d}/dst`, { readonly: true });
      assertEquals(Deno.readTextFileSync(`${d}/dst/f`), "x");
      let refused = false;
      try {
        Deno.writeTextFileSync(`${d}/dst/g`, "y");
      } catch {
        refused = true;
      }
      assert(refused, "write through a read-only bind succeeded");
    }),
});
