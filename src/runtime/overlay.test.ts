import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { overlayData } from "./overlay.ts";

Deno.test("overlay options list lowers top-first and escape separators in paths", () => {
  assertEquals(
    overlayData({ lowerdirs: ["/l/2", "/l/1"], upperdir: "/u", workdir: "/w" }),
    "lowerdir=/l/2:/l/1,upperdir=/u,workdir=/w",
  );
  assertEquals(overlayData({ lowerdirs: ["/a:b", "/c,d"] }), "lowerdir=/a\\:b:/c\\,d");
});
