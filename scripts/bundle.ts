/**
 * `deno task bundle`: bundles the whole program into dist/polis.js (the closest
 * check of `deno compile` these machines allow) and proves the bundle runs:
 * `polis version`, and a real container through a daemon started from it.
 */

import { TestDaemon } from "../tests/helpers/daemon.ts";
import { busyboxImages } from "../tests/helpers/image.ts";

const root = new URL("..", import.meta.url).pathname;
const out = `${root}dist/polis.js`;
Deno.mkdirSync(`${root}dist`, { recursive: true });

function run(args: string[], opts: { env?: Record<string, string> } = {}): string {
  const r = new Deno.Command(Deno.execPath(), { args, cwd: root, env: opts.env }).outputSync();
  const text = new TextDecoder().decode(r.stdout);
  if (!r.success) {
    throw new Error(`deno ${args.join(" ")} failed:\n${text}${new TextDecoder().decode(r.stderr)}`);
  }
  return text;
}

run(["bundle", "--quiet", "--platform", "deno", "-o", out, "main.ts"]);
const size = Deno.statSync(out).size;
console.log(`bundled main.ts into ${out} (${(size / 1024).toFixed(0)} KiB)`);

const version = run(["run", "-A", "--unstable-net", out, "version", "--help"]);
if (!/version/i.test(version)) throw new Error(`bundled polis printed no version help: ${version}`);
console.log("dist/polis.js version --help: ok");

if (Deno.uid() !== 0) {
  console.log("not root: skipping the container check of the bundle");
  Deno.exit(0);
}
const d = new TestDaemon("bundle", out);
try {
  await d.start();
  console.log((await d.ok(["version"])).trim());
  const imgs = await busyboxImages();
  await d.ok(["load", "-i", imgs.dockerArchive]);
  const said = await d.ok(["run", "--rm", "busybox", "echo", "hello from the bundle"]);
  if (said !== "hello from the bundle\n") throw new Error(`unexpected output: ${said}`);
  console.log("dist/polis.js ran a container: ok");
} finally {
  await d.cleanup();
}
