/**
 * Pulls through a real daemon and the real CLI from a real registry: `polis pull` by tag
 * and by digest and then `polis run`; `polis run` of a missing image pulls it; unknown
 * names and wrong credentials fail with a clear message; and `kill -9` of the daemon
 * mid-pull leaves no image, while the next pull resumes the partial layer with a Range
 * request and fetches no finished blob again.
 */
import { deepStrictEqual as eq, ok } from "node:assert/strict";
import { daemonTest, isRoot, type TestDaemon } from "./helpers/fixture.ts";
import { busyboxImages } from "./helpers/image.ts";
import { addBigLayer, hasRegistry, TestRegistry, ThrottleProxy } from "./helpers/registry.ts";

if (isRoot && !hasRegistry) console.log("no /usr/bin/docker-registry: registry tests skipped");

function registryDaemonTest(
  name: string,
  fn: (d: TestDaemon, reg: TestRegistry, t: Deno.TestContext) => Promise<void>,
  opts: ConstructorParameters<typeof TestRegistry>[0] = {},
): void {
  if (!hasRegistry) return;
  daemonTest(name, async (d, t) => {
    const reg = new TestRegistry(opts);
    try {
      await reg.start();
      await fn(d, reg, t);
    } finally {
      await reg.stop();
    }
  });
}

registryDaemonTest(
  "polis pull and run from a registry; run pulls a missing image",
  async (d, reg, t) => {
    const imgs = await busyboxImages();
    await reg.push(`oci:${imgs.ociDir}:busybox:latest`, "test/busybox:latest");
    await reg.push(`oci:${imgs.ociDir}:busybox-cfg:latest`, "test/hello:1");
    const digest = await reg.digest("test/busybox:latest");
    const ref = `${reg.host}/test/busybox`;

    await t.step("pull by tag prints docker's lines, then the image runs", async () => {
      const out = await d.ok(["pull", ref]);
      ok(out.startsWith("Using default tag: latest\n"), out);
      ok(out.includes(`latest: Pulling from ${reg.host}/test/busybox\n`), out);
      ok(/^[0-9a-f]{12}: Pull complete$/m.test(out), out);
      ok(out.includes(`Digest: ${digest}\n`), out);
      ok(out.includes(`Status: Downloaded newer image for ${ref}:latest\n`), out);
      ok(out.endsWith(`${ref}:latest\n`), out);
      const images = await d.ok(["images", "--format", "{{.Repository}}:{{.Tag}}"]);
      ok(images.split("\n").includes(`${ref}:latest`), images);
      eq(await d.ok(["run", "--rm", ref, "echo", "pulled"]), "pulled\n");
      const again = await d.ok(["pull", "-q", `${ref}:latest`]);
      eq(again, `${ref}:latest\n`);
    });

    await t.step("pull by digest runs too", async () => {
      await d.ok(["pull", `${ref}@${digest}`]);
      eq(await d.ok(["run", "--rm", `${ref}@${digest}`, "echo", "by digest"]), "by digest\n");
      const inspect = JSON.parse(await d.ok(["image", "inspect", `${ref}@${digest}`]));
      ok(inspect[0].RepoDigests.includes(`${ref}@${digest}`));
    });

    await t.step("run of a missing image pulls it first", async () => {
      const r = await d.cli(["run", "--rm", `${reg.host}/test/hello:1`]);
      eq(r.code, 0, r.stderr);
      eq(r.stdout, "hello\n");
      ok(
        r.stderr.startsWith(`Unable to find image '${reg.host}/test/hello:1' locally\n`),
        r.stderr,
      );
    });

    await t.step("unknown repository and tag: a clear 404 message, exit 1", async () => {
      for (const bad of [`${reg.host}/test/nope`, `${ref}:nope`]) {
        const r = await d.cli(["pull", bad]);
        eq(r.code, 1);
        ok(/^Error response from daemon: manifest for .* not found/m.test(r.stderr), r.stderr);
      }
      const r = await d.cli(["run", "--rm", `${reg.host}/test/nope:1`]);
      eq(r.code, 125);
      ok(r.stderr.includes("not found"), r.stderr);
    });
  },
);

registryDaemonTest(
  "credentials from docker's config.json and polis login/logout; wrong ones are a 401",
  async (d, reg) => {
    const imgs = await busyboxImages();
    await reg.push(`oci:${imgs.ociDir}:busybox:latest`, "private/busybox:latest");
    const cfgDir = `${d.dir}/docker-config`;
    Deno.mkdirSync(cfgDir);
    const write = (user: string, pass: string) =>
      Deno.writeTextFileSync(
        `${cfgDir}/config.json`,
        JSON.stringify({ auths: { [reg.host]: { auth: btoa(`${user}:${pass}`) } } }),
      );
    const ref = `${reg.host}/private/busybox:latest`;
    write("polis", "wrong");
    const bad = await d.cli(["pull", ref], { env: { DOCKER_CONFIG: cfgDir } });
    eq(bad.code, 1);
    ok(/unauthorized/.test(bad.stderr), bad.stderr);
    write("polis", "s3cret");
    const good = await d.cli(["pull", "-q", ref], { env: { DOCKER_CONFIG: cfgDir } });
    eq(good.code, 0, good.stderr);
    eq(good.stdout, `${ref}\n`);
    await d.ok(["rmi", ref]);

    // polis login keeps its own credentials (0600) and pull uses them; logout drops them.
    const env = { POLIS_CONFIG: `${d.dir}/polis-config`, DOCKER_CONFIG: `${d.dir}/none` };
    const wrong = await d.cli(["login", "-u", "polis", "--password-stdin", reg.host], {
      stdin: "nope\n",
      env,
    });
    eq(wrong.code, 1);
    ok(/unauthorized/.test(wrong.stderr), wrong.stderr);
    const login = await d.cli(["login", "-u", "polis", "--password-stdin", reg.host], {
      stdin: "s3cret\n",
      env,
    });
    eq(login.code, 0, login.stderr);
    eq(login.stdout, "Login Succeeded\n");
    eq(Deno.statSync(`${env.POLIS_CONFIG}/config.json`).mode! & 0o777, 0o600);
    eq((await d.cli(["pull", "-q", ref], { env })).code, 0);
    await d.ok(["rmi", ref]);
    const logout = await d.cli(["logout", reg.host], { env });
    eq(logout.stdout, `Removing login credentials for ${reg.host}\n`);
    const after = await d.cli(["pull", "-q", ref], { env });
    eq(after.code, 1);
    ok(/unauthorized/.test(after.stderr), after.stderr);
  },
  { user: { username: "polis", password: "s3cret" } },
);

const BIG = 24 * 1024 * 1024;

registryDaemonTest(
  "kill -9 of the daemon mid-pull: no half image; the next pull resumes",
  async (d, reg) => {
    const imgs = await busyboxImages();
    await addBigLayer(imgs.ociDir, "big-kill", BIG);
    await reg.push(`oci:${imgs.ociDir}:big-kill`, "test/big:kill");
    const proxy = new ThrottleProxy(reg.port);
    try {
      const ref = `${proxy.host}/test/big:kill`;
      proxy.bytesPerSecond = 8 * 1024 * 1024;
      const pulling = d.cli(["pull", ref]);
      const deadline = Date.now() + 30_000;
      while (proxy.bytes < BIG / 2 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
      }
      ok(proxy.bytes >= BIG / 2, "the pull got going");
      await d.stop("SIGKILL");
      proxy.dropAll();
      const cut = await pulling;
      ok(cut.code !== 0, "the CLI saw the daemon go");
      const partials = [...Deno.readDirSync(`${d.root}/downloads`)].map((e) => e.name);
      ok(partials.some((n) => n.endsWith(".partial")), partials.join(","));

      await d.start();
      const listed = await d.ok(["images", "--format", "{{.Repository}}:{{.Tag}}"]);
      ok(!listed.includes("test/big"), `no half image: ${listed}`);

      proxy.bytesPerSecond = Infinity;
      proxy.requests.length = 0;
      proxy.bytes = 0;
      await d.ok(["pull", ref]);
      const gets = proxy.requests.filter((q) => q.startsWith("GET ") && q.includes("/blobs/"));
      eq(gets.length, 1, `only the unfinished layer again: ${gets.join(", ")}`);
      ok(/ bytes=\d+-$/.test(gets[0]), gets[0]);
      ok(proxy.bytes < BIG * 0.75, `resumed, ${proxy.bytes} bytes`);
      eq(await d.ok(["run", "--rm", ref, "stat", "-c", "%s", "/data/blob.bin"]), `${BIG}\n`);
    } finally {
      await proxy.close();
    }
  },
);
