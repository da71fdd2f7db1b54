import { deepStrictEqual as eq } from "node:assert/strict";
import { endpointsFor, isInsecureHost, registryConfigFromEnv } from "./client.ts";

Deno.test("loopback and localhost are plain HTTP; everything else TLS unless listed", () => {
  for (const h of ["127.0.0.1:5000", "127.9.9.9", "localhost:5000", "[::1]:5000", "a.localhost"]) {
    eq(isInsecureHost(h), true, h);
  }
  for (const h of ["registry.example:5000", "10.0.0.1:5000", "127.0.0.1.example.com"]) {
    eq(isInsecureHost(h), false, h);
  }
  eq(isInsecureHost("10.0.0.1:5000", { insecure: ["10.0.0.1:5000"] }), true);
  eq(endpointsFor("127.0.0.1:5000"), ["http://127.0.0.1:5000"]);
  eq(endpointsFor("ghcr.io"), ["https://ghcr.io"]);
  eq(endpointsFor("docker.io", { mirrors: ["https://mirror.example/"] }), [
    "https://mirror.example",
    "https://registry-1.docker.io",
  ]);
  const env: Record<string, string> = {
    POLIS_INSECURE_REGISTRIES: "a:5000, b",
    POLIS_REGISTRY_MIRRORS: "",
  };
  eq(registryConfigFromEnv((n) => env[n]), { insecure: ["a:5000", "b"], mirrors: [] });
});
