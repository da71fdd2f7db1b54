import { deepStrictEqual as eq, throws } from "node:assert/strict";
import { checkOverlayFits, overlayMountData, type RootfsDescription } from "./rootfs.ts";

function desc(
  layers: number,
  root = "/var/lib/polis",
): Extract<RootfsDescription, { kind: "overlay" }> {
  const c = `${root}/containers/${"a".repeat(64)}`;
  return {
    kind: "overlay",
    lowerdirs: Array.from(
      { length: layers },
      (_, i) => `${root}/l/${i.toString(16).padStart(8, "0")}`,
    ),
    upperdir: `${c}/upper`,
    workdir: `${c}/work`,
    target: `${c}/rootfs`,
  };
}

Deno.test("overlayMountData lists lower dirs top first, then upper and work", () => {
  const d = desc(2);
  eq(
    overlayMountData(d),
    `lowerdir=/var/lib/polis/l/00000000:/var/lib/polis/l/00000001,upperdir=${d.upperdir},workdir=${d.workdir}`,
  );
});

Deno.test("short layer links fit docker's 125-layer maximum in one page; more is refused clearly", () => {
  checkOverlayFits(desc(125));
  throws(
    () => checkOverlayFits(desc(200)),
    (e: unknown) =>
      e instanceof Error && "code" in e && e.code === "failed_precondition" &&
      /image has 200 layers: the overlay mount options \(\d+ bytes\) exceed the 4096-byte page limit/
        .test(e.message),
  );
});
