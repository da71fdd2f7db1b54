import { deepStrictEqual as eq, match, rejects } from "node:assert/strict";
import type { PolisError } from "../../core/errors.ts";
import { endpointsFor, isInsecureHost, RegistryClient, registryConfigFromEnv } from "./client.ts";

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

Deno.test("offline: a loopback mirror is tried, Docker Hub and outside realms never", async () => {
  const seen: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    const path = new URL(req.url).pathname;
    seen.push(path);
    if (path.includes("/outside/")) {
      return new Response("", {
        status: 401,
        headers: { "www-authenticate": 'Bearer realm="https://auth.example/token",service=x' },
      });
    }
    return Response.json({ errors: [{ code: "MANIFEST_UNKNOWN", message: "no such" }] }, {
      status: 404,
    });
  });
  try {
    const mirror = `http://127.0.0.1:${server.addr.port}`;
    const config = { mirrors: [mirror], offline: true };
    const hub = new RegistryClient("docker.io", "library/nothere", { config, retries: 0 });
    await rejects(hub.getManifest("latest"), (e: PolisError) => {
      eq(e.code, "not_found");
      match(e.message, /not found: no such; registry-1\.docker\.io is not tried.*--offline/);
      return true;
    });
    const own = new RegistryClient(`127.0.0.1:${server.addr.port}`, "outside/x", {
      config,
      retries: 0,
    });
    await rejects(own.getManifest("1"), /auth\.example is not on this machine.*--offline/);
    eq(seen, ["/v2/library/nothere/manifests/latest", "/v2/outside/x/manifests/1"]);
  } finally {
    await server.shutdown();
  }
});
