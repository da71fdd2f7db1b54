/**
 * `deno task demo`: the main job end to end on a locally built image, as a user
 * would type it: load, run a detached busybox httpd, fetch its page over loopback,
 * logs, stop, rm. Uses a temp root and removes everything afterwards.
 */

import { allocTestBridge, TestDaemon } from "../tests/helpers/daemon.ts";
import { busyboxImages } from "../tests/helpers/image.ts";

if (Deno.uid() !== 0) {
  console.error("demo: run as root (containers need namespaces, mounts and cgroups)");
  Deno.exit(1);
}

// The demo's daemon gets its own default bridge, so it never disturbs a real polis0.
const net = allocTestBridge();
const d = new TestDaemon("demo", undefined, {
  defaultNetwork: "bridge",
  bridge: net.bridge,
  bridgeSubnet: net.subnet,
});
const port = 18000 + Math.floor(Math.random() * 2000);

async function step(args: string[]): Promise<string> {
  console.log(`\n$ polis ${args.join(" ")}`);
  const r = await d.cli(args);
  if (r.stdout) console.log(r.stdout.trimEnd());
  if (r.stderr) console.error(r.stderr.trimEnd());
  if (r.code !== 0) throw new Error(`polis ${args[0]} exited ${r.code}`);
  return r.stdout;
}

try {
  console.log(`starting polis daemon (root ${d.root}, socket ${d.socket})`);
  await d.start();
  console.log("building a busybox image from Debian's busybox-static (umoci + skopeo)");
  const imgs = await busyboxImages();
  await step(["load", "-i", imgs.dockerArchive]);
  await step(["images"]);
  await step([
    "run",
    "-d",
    "--name",
    "web",
    "-p",
    `127.0.0.1:${port}:80`,
    "--memory",
    "32m",
    "busybox",
    "sh",
    "-c",
    `mkdir -p /www && echo '<h1>Hello from Polis</h1>' > /www/index.html && ` +
    `echo "serving on port 80" && exec httpd -f -v -p 80 -h /www`,
  ]);
  await step(["ps"]);

  let body = "";
  for (let i = 0; i < 50 && !body; i++) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/`);
      body = await r.text();
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  console.log(`\n$ curl http://127.0.0.1:${port}/\n${body.trimEnd()}`);
  if (!body.includes("Hello from Polis")) throw new Error("the page did not come back");

  await step(["logs", "web"]);
  await step(["stop", "-t", "2", "web"]);
  await step(["ps", "-a"]);
  await step(["rm", "web"]);
  console.log("\ndemo: ok");
} finally {
  await d.cleanup();
  await new Deno.Command("ip", { args: ["link", "del", net.bridge], stderr: "null" }).output();
  net.release();
}
