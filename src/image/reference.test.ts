import { deepStrictEqual as assertEquals, throws } from "node:assert/strict";
import { PolisError } from "../core/errors.ts";
import { canonicalName, familiarName, parseReference } from "./reference.ts";

const D = "sha256:" + "ab".repeat(32);

Deno.test("parseReference normalises names the way docker does", () => {
  const cases: [string, ReturnType<typeof parseReference>][] = [
    ["busybox", { domain: "docker.io", path: "library/busybox", tag: "latest" }],
    ["busybox:1.36", { domain: "docker.io", path: "library/busybox", tag: "1.36" }],
    ["user/app", { domain: "docker.io", path: "user/app", tag: "latest" }],
    ["docker.io/busybox", { domain: "docker.io", path: "library/busybox", tag: "latest" }],
    ["index.docker.io/library/busybox:x", {
      domain: "docker.io",
      path: "library/busybox",
      tag: "x",
    }],
    ["localhost:5000/x:1", { domain: "localhost:5000", path: "x", tag: "1" }],
    ["localhost/x", { domain: "localhost", path: "x", tag: "latest" }],
    ["registry.example.com/a/b/c", {
      domain: "registry.example.com",
      path: "a/b/c",
      tag: "latest",
    }],
    ["10.0.0.1:5000/img:v2", { domain: "10.0.0.1:5000", path: "img", tag: "v2" }],
    [`alpine@${D}`, { domain: "docker.io", path: "library/alpine", digest: D }],
    [`alpine:3@${D}`, { domain: "docker.io", path: "library/alpine", tag: "3", digest: D }],
    ["my-app_x.y__z:Tag_1.0-rc", {
      domain: "docker.io",
      path: "library/my-app_x.y__z",
      tag: "Tag_1.0-rc",
    }],
  ];
  for (const [input, want] of cases) assertEquals(parseReference(input), want, input);
});

Deno.test("parseReference refuses malformed references with a clear invalid_argument", () => {
  const cases: [string, RegExp][] = [
    ["", /empty reference/],
    ["Busybox", /must be lowercase/],
    ["user/App:1", /must be lowercase/],
    ["busybox:", /malformed tag/],
    ["busybox:-x", /malformed tag/],
    ["busybox:" + "a".repeat(129), /malformed tag/],
    ["busybox@sha256:1234", /malformed digest/],
    [`busybox@sha256:${"AB".repeat(32)}`, /64 lowercase hex/],
    ["a//b", /empty path component/],
    ["-bad", /malformed repository name component/],
    ["bad-", /malformed repository name component/],
    ["a b", /whitespace/],
    [":tag", /at least one component/],
    ["ab".repeat(32), /64-character hex/],
    ["host:notaport/x", /malformed registry host/],
    ["x/" + "a".repeat(260), /longer than 255/],
  ];
  for (const [input, want] of cases) {
    throws(() => parseReference(input), (err: unknown) => {
      assertEquals(err instanceof PolisError && err.code, "invalid_argument", input);
      if (!want.test((err as Error).message)) {
        throw new Error(`${input}: message "${(err as Error).message}" does not match ${want}`);
      }
      return true;
    });
  }
});

Deno.test("familiarName strips docker.io and library/ but keeps other registries", () => {
  const cases: [string, string][] = [
    ["docker.io/library/busybox:latest", "busybox:latest"],
    ["busybox", "busybox:latest"],
    ["docker.io/user/app:v1", "user/app:v1"],
    ["docker.io/library/a/b:1", "library/a/b:1"],
    ["localhost:5000/x:1", "localhost:5000/x:1"],
    [`alpine@${D}`, `alpine@${D}`],
  ];
  for (const [input, want] of cases) assertEquals(familiarName(input), want, input);
});

Deno.test("canonicalName gives the fully qualified storage key", () => {
  assertEquals(canonicalName("busybox"), "docker.io/library/busybox:latest");
  assertEquals(canonicalName("localhost:5000/x:1"), "localhost:5000/x:1");
  assertEquals(canonicalName(`alpine@${D}`), `docker.io/library/alpine@${D}`);
});
