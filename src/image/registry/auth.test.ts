import { deepStrictEqual as eq } from "node:assert/strict";
import { basicAuthorization, parseChallenges, TokenCache } from "./auth.ts";

Deno.test("WWW-Authenticate challenges parse with quoted commas and escapes", () => {
  eq(
    parseChallenges(
      'Bearer realm="https://auth.example/token",service="registry.example",' +
        'scope="repository:a/b:pull,push"',
    ),
    [{
      scheme: "bearer",
      params: {
        realm: "https://auth.example/token",
        service: "registry.example",
        scope: "repository:a/b:pull,push",
      },
    }],
  );
  eq(parseChallenges('Basic realm="polis \\"test\\""'), [
    { scheme: "basic", params: { realm: 'polis "test"' } },
  ]);
  eq(parseChallenges('Basic realm="a", Bearer realm="b", service=s'), [
    { scheme: "basic", params: { realm: "a" } },
    { scheme: "bearer", params: { realm: "b", service: "s" } },
  ]);
  eq(parseChallenges(""), []);
});

Deno.test("Basic authorization encodes user:password (UTF-8)", () => {
  eq(basicAuthorization({ username: "polis", password: "s3cret" }), "Basic cG9saXM6czNjcmV0");
  eq(basicAuthorization({ username: "ü", password: "x" }), `Basic ${btoa("\xc3\xbc:x")}`);
});

Deno.test("tokens are cached until shortly before they expire", () => {
  let now = 0;
  const cache = new TokenCache(() => now);
  const key = TokenCache.key("https://auth", "reg", "repository:a:pull");
  cache.set(key, "t1", 60);
  eq(cache.get(key), "t1");
  now = 53_000;
  eq(cache.get(key), "t1");
  now = 54_000; // 10% of 60 s before the end
  eq(cache.get(key), undefined);
  cache.set(key, "t2");
  cache.delete(key);
  eq(cache.get(key), undefined);
});
