/**
 * Bearer token auth against Debian's docker-registry configured with `auth: token:` and a
 * token server of the test's own (RS256 JWTs signed with a key whose certificate the
 * registry trusts), through a real daemon and the real CLI: an anonymous pull goes
 * through the token flow with one token for the manifest and every blob; tokens are
 * reused across pulls and fetched again once expired; wrong credentials fail with a clear
 * "unauthorized" and store nothing; `polis login` then pull and push work.
 */
import { deepStrictEqual as eq, ok } from "node:assert/strict";
import { daemonTest, isRoot, type TestDaemon } from "./helpers/fixture.ts";
import { busyboxImages } from "./helpers/image.ts";
import { addBigLayer, hasRegistry, TestRegistry, ThrottleProxy } from "./helpers/registry.ts";

if (isRoot && !hasRegistry) console.log("no /usr/bin/docker-registry: token tests skipped");

const ALICE = { username: "alice", password: "s3cret-pass" };

function blobCount(d: TestDaemon): number {
  try {
    return [...Deno.readDirSync(`${d.root}/blobs/sha256`)].length;
  } catch {
    return 0;
  }
}

if (hasRegistry) {
  daemonTest("pulls and pushes through registry token auth", async (d, t) => {
    const reg = new TestRegistry({ user: ALICE, token: {} });
    const proxy = new ThrottleProxy(reg.port);
    const home = await Deno.makeTempDir({ prefix: "polis-token-home-" });
    try {
      await reg.start();
      const tokens = reg.tokens!;
      const imgs = await busyboxImages();
      await addBigLayer(imgs.ociDir, "token-private", 256 * 1024);
      await reg.push(`oci:${imgs.ociDir}:busybox:latest`, "tok/busybox:latest");
      for (const tag of ["1", "2", "3"]) {
        await reg.push(`oci:${imgs.ociDir}:busybox-cfg:latest`, `tok/short:${tag}`);
      }
      await reg.push(`oci:${imgs.ociDir}:token-private`, "tok/private:1");
      // The daemon has busybox loaded: drop it so the pull fetches every blob.
      await d.ok(["rmi", "busybox"]);

      await t.step("an anonymous pull gets one token for the manifest and every blob", async () => {
        const before = tokens.requests.length;
        const ref = `${proxy.host}/tok/busybox:latest`;
        await d.ok(["pull", "-q", ref]);
        const asked = tokens.requests.slice(before);
        eq(asked.length, 1, JSON.stringify(asked));
        eq(asked[0].scopes, ["repository:tok/busybox:pull"]);
        eq(asked[0].user, undefined);
        const blobs = proxy.requests.filter((r) => /^GET \/v2\/tok\/busybox\/blobs\//.test(r));
        ok(blobs.length >= 2, proxy.requests.join("\n"));
        // The registry itself refused the request without a token first.
        ok(proxy.requests.some((r) => r.startsWith("GET /v2/tok/busybox/manifests/latest")));
        eq(await d.ok(["run", "--rm", ref, "echo", "token pull"]), "token pull\n");
      });

      await t.step("a token serves later pulls and is fetched again once expired", async () => {
        tokens.expiresIn = 8; // the client keeps it 10% less: 7.2 s
        const before = tokens.requests.length;
        await d.ok(["pull", "-q", `${reg.host}/tok/short:1`]);
        await d.ok(["pull", "-q", `${reg.host}/tok/short:2`]);
        eq(tokens.requests.length - before, 1, JSON.stringify(tokens.requests.slice(before)));
        await new Promise((r) => setTimeout(r, 8_000));
        await d.ok(["pull", "-q", `${reg.host}/tok/short:3`]);
        const asked = tokens.requests.slice(before);
        eq(asked.length, 2, JSON.stringify(asked));
        eq(asked[1].scopes, ["repository:tok/short:pull"]);
        tokens.expiresIn = 300;
      });

      tokens.anonymousPull = false;
      const priv = `${reg.host}/tok/private:1`;

      await t.step("without credentials a private repository is unauthorized", async () => {
        const r = await d.cli(["pull", priv]);
        eq(r.code, 1, r.stdout);
        ok(/^Error response from daemon: .*unauthorized/m.test(r.stderr), r.stderr);
      });

      await t.step("wrong credentials: a clear 401 error and nothing stored", async () => {
        const blobs = blobCount(d);
        const docker = `${home}/docker`;
        Deno.mkdirSync(docker);
        Deno.writeTextFileSync(
          `${docker}/config.json`,
          JSON.stringify({ auths: { [reg.host]: { auth: btoa(`${ALICE.username}:wrong`) } } }),
        );
        const before = tokens.requests.length;
        const r = await d.cli(["pull", priv], { env: { DOCKER_CONFIG: docker, HOME: home } });
        eq(r.code, 1, r.stdout);
        ok(
          /^Error response from daemon: .*unauthorized: the token server refused the credentials/m
            .test(r.stderr),
          r.stderr,
        );
        ok(tokens.requests.slice(before).every((q) => q.status === 401));
        eq(blobCount(d), blobs);
        const images = await d.ok(["images", "--format", "{{.Repository}}"]);
        ok(!images.includes("tok/private"), images);
        Deno.removeSync(docker, { recursive: true });

        const login = await d.cli(
          ["login", "-u", ALICE.username, "--password-stdin", reg.host],
          { stdin: "wrong\n", env: { HOME: home } },
        );
        ok(login.code !== 0, login.stdout);
        ok(/unauthorized/.test(login.stderr), login.stderr);
        ok(!existsSync(`${home}/.polis/config.json`), "login with a wrong password stored it");
      });

      await t.step("polis login, then pull and push work with the user's token", async () => {
        const env = { HOME: home };
        const login = await d.cli(
          ["login", "-u", ALICE.username, "--password-stdin", reg.host],
          { stdin: `${ALICE.password}\n`, env },
        );
        eq(login.code, 0, login.stderr);
        eq(login.stdout, "Login Succeeded\n");

        const before = tokens.requests.length;
        const pull = await d.cli(["pull", "-q", priv], { env });
        eq(pull.code, 0, pull.stderr);
        const asked = tokens.requests.slice(before);
        ok(
          asked.length >= 1 && asked.every((q) => q.user === ALICE.username),
          JSON.stringify(asked),
        );
        eq(await d.ok(["run", "--rm", priv, "ls", "/data"]), "blob.bin\n");

        const target = `${reg.host}/tok/pushed:1`;
        await d.ok(["tag", priv, target]);
        const push = await d.cli(["push", target], { env });
        eq(push.code, 0, push.stderr);
        const pushed = /^1: digest: (sha256:[0-9a-f]{64}) size: \d+$/m.exec(push.stdout);
        ok(pushed, push.stdout);
        // Mounting needs pull on the source too: the token was asked for both scopes.
        ok(/^[0-9a-f]{12}: Mounted from tok\/private$/m.test(push.stdout), push.stdout);
        ok(
          tokens.requests.some((q) =>
            q.user === ALICE.username && q.scopes.includes("repository:tok/pushed:pull,push") &&
            q.scopes.includes("repository:tok/private:pull")
          ),
          JSON.stringify(tokens.requests),
        );
        const anonymous = await d.cli(["push", target]);
        eq(anonymous.code, 1);
        ok(/unauthorized/.test(anonymous.stderr), anonymous.stderr);
        tokens.anonymousPull = true;
        eq(await reg.digest("tok/pushed:1"), pushed[1]);
      });
    } finally {
      await proxy.close();
      await reg.stop();
      await Deno.remove(home, { recursive: true }).catch(() => {});
    }
  });
}

function existsSync(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}
