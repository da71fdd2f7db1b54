import { deepStrictEqual as eq, ok } from "node:assert/strict";
import type { Output } from "../io.ts";
import { PullPrinter, readCredentials, registryHost, withDefaultTag } from "./pull.ts";

function sink(): Output & { text: string } {
  const o = {
    text: "",
    write(t: string | Uint8Array) {
      o.text += typeof t === "string" ? t : new TextDecoder().decode(t);
      return Promise.resolve();
    },
  };
  return o;
}

Deno.test("registry hosts and default tags follow docker's rules", () => {
  eq(registryHost("busybox"), "docker.io");
  eq(registryHost("user/app"), "docker.io");
  eq(registryHost("127.0.0.1:5000/app:1"), "127.0.0.1:5000");
  eq(registryHost("localhost/app"), "localhost");
  eq(registryHost("ghcr.io/o/app"), "ghcr.io");
  eq(withDefaultTag("busybox"), "busybox:latest");
  eq(withDefaultTag("127.0.0.1:5000/app"), "127.0.0.1:5000/app:latest");
  eq(withDefaultTag("app:1"), "app:1");
  eq(withDefaultTag(`app@sha256:${"a".repeat(64)}`), `app@sha256:${"a".repeat(64)}`);
});

Deno.test("without a terminal, progress is one line per status change, no byte counts", async () => {
  const out = sink();
  const p = new PullPrinter(out, false);
  await p.message({ id: "latest", status: "Pulling from app" });
  await p.message({ id: "0123456789ab", status: "Pulling fs layer" });
  await p.message({ id: "0123456789ab", status: "Downloading", current: 5, total: 10 });
  await p.message({ id: "0123456789ab", status: "Pull complete" });
  await p.message({ status: "Digest: sha256:x" });
  eq(
    out.text,
    "latest: Pulling from app\n0123456789ab: Pulling fs layer\n0123456789ab: Pull complete\n" +
      "Digest: sha256:x\n",
  );
});

Deno.test("on a terminal, layer lines are redrawn in place with a bar", async () => {
  const out = sink();
  const p = new PullPrinter(out, true);
  await p.message({ id: "aaaaaaaaaaaa", status: "Pulling fs layer" });
  await p.message({ id: "bbbbbbbbbbbb", status: "Pulling fs layer" });
  out.text = "";
  await p.message({ id: "aaaaaaaaaaaa", status: "Downloading", current: 512, total: 1024 });
  ok(out.text.startsWith("\x1b[2A"), JSON.stringify(out.text));
  ok(out.text.includes("aaaaaaaaaaaa: Downloading [===================>"), out.text);
  ok(out.text.includes("\x1b[2Kbbbbbbbbbbbb: Pulling fs layer\n"), out.text);
});

Deno.test("credentials come from docker's config.json auths", () => {
  const dir = Deno.makeTempDirSync();
  try {
    Deno.writeTextFileSync(
      `${dir}/config.json`,
      JSON.stringify({
        auths: {
          "127.0.0.1:5000": { auth: btoa("polis:pa:ss") },
          "https://index.docker.io/v1/": { username: "hub", password: "pw" },
        },
      }),
    );
    const io = { env: (n: string) => (n === "DOCKER_CONFIG" ? dir : undefined) };
    eq(readCredentials(io, "127.0.0.1:5000"), { username: "polis", password: "pa:ss" });
    eq(readCredentials(io, "docker.io"), { username: "hub", password: "pw" });
    eq(readCredentials(io, "other:5000"), undefined);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
