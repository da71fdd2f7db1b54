import { deepStrictEqual as eq, throws } from "node:assert/strict";
import { hostPlatform, parsePlatform, platformRank, selectPlatform } from "./platform.ts";

Deno.test("platforms parse and normalise as containerd does", () => {
  eq(parsePlatform("linux/amd64"), { os: "linux", architecture: "amd64" });
  eq(parsePlatform("linux/arm64"), { os: "linux", architecture: "arm64", variant: "v8" });
  eq(parsePlatform("linux/aarch64"), { os: "linux", architecture: "arm64", variant: "v8" });
  eq(parsePlatform("linux/arm"), { os: "linux", architecture: "arm", variant: "v7" });
  eq(parsePlatform("linux/arm/6"), { os: "linux", architecture: "arm", variant: "v6" });
  eq(parsePlatform("x86_64"), { os: "linux", architecture: "amd64" });
  eq(hostPlatform("x86_64"), { os: "linux", architecture: "amd64" });
  eq(hostPlatform("aarch64"), { os: "linux", architecture: "arm64", variant: "v8" });
  for (const bad of ["", "linux/", "a/b/c/d", "linux/am d64"]) {
    throws(() => parsePlatform(bad), /invalid platform/);
  }
});

Deno.test("an arm/v7 host takes v7, then v6, never v8; arm64 accepts no variant", () => {
  const v7 = parsePlatform("linux/arm/v7");
  eq(platformRank(v7, { os: "linux", architecture: "arm", variant: "v7" }), 0);
  eq(platformRank(v7, { os: "linux", architecture: "arm", variant: "v6" }), 1);
  eq(platformRank(v7, { os: "linux", architecture: "arm", variant: "v8" }), undefined);
  eq(platformRank(parsePlatform("linux/arm/v6"), { os: "linux", architecture: "arm" }), undefined);
  eq(platformRank(parsePlatform("linux/arm64"), { os: "linux", architecture: "arm64" }), 0);
  eq(platformRank(parsePlatform("linux/amd64"), { os: "linux", architecture: "arm64" }), undefined);
});

Deno.test("selectPlatform picks the best entry of an index", () => {
  const entries = [
    { d: "amd64", platform: { os: "linux", architecture: "amd64" } },
    { d: "v6", platform: { os: "linux", architecture: "arm", variant: "v6" } },
    { d: "v7", platform: { os: "linux", architecture: "arm", variant: "v7" } },
    { d: "arm64", platform: { os: "linux", architecture: "arm64", variant: "v8" } },
    { d: "win", platform: { os: "windows", architecture: "amd64" } },
    { d: "attestation" },
  ];
  eq(selectPlatform(entries, parsePlatform("linux/arm/v7"))?.d, "v7");
  eq(selectPlatform(entries.filter((e) => e.d !== "v7"), parsePlatform("linux/arm/v7"))?.d, "v6");
  eq(selectPlatform(entries, parsePlatform("linux/arm64"))?.d, "arm64");
  eq(selectPlatform(entries, parsePlatform("linux/amd64"))?.d, "amd64");
  eq(selectPlatform(entries, parsePlatform("linux/s390x")), undefined);
});
