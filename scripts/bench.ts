/**
 * `deno task bench`: times Polis with a warm daemon and, in the same run, the
 * anchors (runc, podman) on the same busybox image, and prints ratios.
 *
 * Measured: `polis run --rm busybox true` (CLI, end to end); the create/start/rm
 * cycle (API); containers started per minute, serial and 4 in parallel; daemon RSS
 * idle and with 50 sleeping containers; GET /v1/containers p50/p99 with 100
 * containers; HTTP throughput and CPU per request through a published port on 127.0.0.1 against
 * direct to the container's address (wrk, from the host; BENCH_NET_ROUNDS paired rounds);
 * `polis run --rm` on the default bridge against
 * `podman run --rm` on podman's default network (BENCH_PODMAN=0 skips podman). Targets live in
 * the issues; nothing here asserts them.
 */

import { allocTestBridge, TestDaemon } from "../tests/helpers/daemon.ts";
import { busyboxImages } from "../tests/helpers/image.ts";
import { PolisClient } from "../src/cli/client.ts";
import { TestRegistry } from "../tests/helpers/registry.ts";
import { Rtnl } from "../ffi/mod.ts";

if (Deno.uid() !== 0) {
  console.error("bench: run as root");
  Deno.exit(1);
}

const RUNS = Number(Deno.env.get("BENCH_RUNS") ?? 20);
/** BENCH_ONLY=containers, BENCH_ONLY=pull or BENCH_ONLY=net runs one part. */
const ONLY = Deno.env.get("BENCH_ONLY");
/** Paired rounds of the published-port throughput measure (BENCH_NET_ROUNDS). */
const NET_ROUNDS = Number(Deno.env.get("BENCH_NET_ROUNDS") ?? 8);
/** USER_HZ: /proc/<pid>/stat times are in these (100 on Linux, x86_64 and aarch64). */
const CLOCK_TICKS = 100;

/** BENCH_PODMAN=0 skips the podman anchors. */
const PODMAN = Deno.env.get("BENCH_PODMAN") !== "0";
const results: Record<string, number | string> = {};

function have(cmd: string): boolean {
  return new Deno.Command("sh", { args: ["-c", `command -v ${cmd}`], stdout: "null" })
    .outputSync().success;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(p / 100 * s.length) - 1)];
}

async function timeCmd(
  cmd: string[],
  runs = RUNS,
  env?: Record<string, string>,
  warmup = 2,
): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < runs + warmup; i++) {
    const t0 = performance.now();
    const out = await new Deno.Command(cmd[0], {
      args: cmd.slice(1),
      stdout: "null",
      stderr: "piped",
      env,
    }).output();
    const ms = performance.now() - t0;
    if (!out.success) {
      throw new Error(`${cmd.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`);
    }
    if (i >= warmup) times.push(ms);
  }
  return times;
}

/**
 * Pull + unpack of a ~100 MB, 5-layer image from a local registry (Debian's
 * docker-registry on 127.0.0.1), against `skopeo copy` to an OCI layout + `umoci unpack`,
 * with the daemon's peak RSS sampled during the pulls.
 */
async function benchPull(polis: string[]): Promise<void> {
  // BENCH_PULL_LAYERS / BENCH_PULL_LAYER_MB: the image's shape (default 4 x 25 MB); e.g. one
  // 400 MB layer shows the daemon's memory does not grow with a layer's size.
  const layers = Number(Deno.env.get("BENCH_PULL_LAYERS") ?? 4);
  const layerMb = Number(Deno.env.get("BENCH_PULL_LAYER_MB") ?? 25);
  console.log(
    `\n# Pull + unpack of a ~${layers * layerMb} MB image (${layers} x ${layerMb} MB layers ` +
      "on busybox) from a local registry",
  );
  if (!have("skopeo") || !have("umoci") || !have("docker-registry")) {
    console.log("skopeo, umoci or docker-registry missing: skipped");
    return;
  }
  const imgs = await busyboxImages();
  const oci = `${tmp}/big-oci`;
  await new Deno.Command("cp", { args: ["-a", imgs.ociDir, oci] }).output();
  let base = "busybox:latest";
  for (let i = 0; i < layers; i++) {
    // Half incompressible, half text: ~25 MB per layer, ~12.5 MB compressed by default.
    const dir = `${tmp}/layer${i}`;
    Deno.mkdirSync(`${dir}/data`, { recursive: true });
    const rnd = new Uint8Array(Math.round(layerMb / 2 * 1024 * 1024));
    for (let off = 0; off < rnd.length; off += 65536) {
      crypto.getRandomValues(rnd.subarray(off, off + 65536));
    }
    Deno.writeFileSync(`${dir}/data/random-${i}.bin`, rnd);
    Deno.writeTextFileSync(
      `${dir}/data/text-${i}.txt`,
      `line ${i} of polis bench text\n`.repeat(Math.round(layerMb * 18_000)),
    );
    await cmd("tar", ["-C", dir, "-cf", `${dir}.tar`, "data"]);
    const tag = `big${i}`;
    await cmd("umoci", ["config", "--image", `${oci}:${base}`, "--tag", tag]);
    await cmd("umoci", ["raw", "add-layer", "--image", `${oci}:${tag}`, `${dir}.tar`]);
    base = tag;
  }
  const reg = new TestRegistry();
  try {
    await reg.start();
    const ref = `${reg.host}/bench/big:1`;
    await cmd("skopeo", [
      "--insecure-policy",
      "copy",
      "--quiet",
      "--dest-tls-verify=false",
      `oci:${oci}:${base}`,
      `docker://${ref}`,
    ]);
    // Each pull on a fresh daemon and root: nothing cached, as on a new device.
    const polisTimes: number[] = [];
    let peak = 0;
    for (let i = 0; i < 3; i++) {
      const fresh = new TestDaemon(`bench-pull${i}`);
      try {
        await fresh.start();
        const idle = rssKiB(fresh.pid!) / 1024;
        let sampling = true;
        let localPeak = idle;
        const sampler = (async () => {
          while (sampling) {
            localPeak = Math.max(localPeak, rssKiB(fresh.pid!) / 1024);
            await new Promise((r) => setTimeout(r, 20));
          }
        })();
        polisTimes.push(
          median(
            await timeCmd([...polis, "pull", "-q", ref], 1, { POLIS_SOCKET: fresh.socket }, 0),
          ),
        );
        sampling = false;
        await sampler;
        peak = Math.max(peak, localPeak);
        if (i === 0) report("daemon RSS before the pull", idle, "MiB");
      } finally {
        await fresh.cleanup();
      }
    }
    const polisPull = median(polisTimes);
    report("polis pull (download + verify + unpack)", polisPull, "ms");
    report("daemon peak RSS during pulls", peak, "MiB");

    const skopeoTimes: number[] = [];
    for (let i = 0; i < 3; i++) {
      const out = `${tmp}/skopeo-${i}`;
      const t0 = performance.now();
      await cmd("skopeo", [
        "--insecure-policy",
        "copy",
        "--quiet",
        "--src-tls-verify=false",
        `docker://${ref}`,
        `oci:${out}:big`,
      ]);
      await cmd("umoci", ["unpack", "--image", `${out}:big`, `${out}-bundle`]);
      skopeoTimes.push(performance.now() - t0);
      await Deno.remove(out, { recursive: true });
      await Deno.remove(`${out}-bundle`, { recursive: true });
    }
    const skopeo = median(skopeoTimes);
    report("skopeo copy + umoci unpack", skopeo, "ms");
    ratio("polis pull / (skopeo copy + umoci unpack) (target ≤ 1.0)", polisPull, skopeo);
  } finally {
    await reg.stop();
  }
}

async function cmd(bin: string, args: string[]): Promise<void> {
  const out = await new Deno.Command(bin, { args, stdout: "null", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`${bin} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
}

/** podman's cgroupfs parents, deepest last, in every hierarchy. */
function libpodCgroups(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    out.push(dir);
    for (const e of Deno.readDirSync(dir)) if (e.isDirectory) walk(`${dir}/${e.name}`);
  };
  for (const h of Deno.readDirSync("/sys/fs/cgroup")) {
    try {
      walk(`/sys/fs/cgroup/${h.name}/libpod_parent`);
    } catch {
      // not in this hierarchy
    }
  }
  return out;
}

function rssKiB(pid: number, field = "VmRSS"): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(
    Deno.readTextFileSync(`/proc/${pid}/status`),
  );
  return m ? Number(m[1]) : NaN;
}

function report(name: string, value: number, unit: string): void {
  results[name] = Number(value.toFixed(2));
  console.log(`${name.padEnd(52)} ${value.toFixed(1).padStart(9)} ${unit}`);
}

function ratio(name: string, a: number, b: number): void {
  results[name] = Number((a / b).toFixed(3));
  console.log(`${name.padEnd(52)} ${(a / b).toFixed(2).padStart(9)} ×`);
}

async function startsPerMinute(
  client: PolisClient,
  parallel: number,
  perWorker: number,
): Promise<number> {
  const t0 = performance.now();
  await Promise.all(Array.from({ length: parallel }, async () => {
    for (let i = 0; i < perWorker; i++) {
      const { Id } = await client.createContainer({ image: "busybox", cmd: ["true"] });
      const wait = await client.registerWait(Id);
      await client.startContainer(Id);
      await wait.result;
      await client.removeContainer(Id);
    }
  }));
  return parallel * perWorker / ((performance.now() - t0) / 60_000);
}

const imgs = await busyboxImages();
// The bench daemon's default bridge is its own (never the host's polis0), removed at the end.
const benchNet = allocTestBridge();
const d = new TestDaemon("bench", undefined, {
  defaultNetwork: "none",
  bridge: benchNet.bridge,
  bridgeSubnet: benchNet.subnet,
});
const tmp = Deno.makeTempDirSync({ prefix: "polis-bench-" });
try {
  await d.start();
  await d.ok(["load", "-i", imgs.dockerArchive]);
  const polis = [Deno.execPath(), "run", "-A", "--unstable-net", "--quiet", d.main];
  const env = { POLIS_SOCKET: d.socket };
  if (!ONLY || ONLY === "containers") await benchContainers(d, polis, env);
  if (!ONLY || ONLY === "pull") await benchPull(polis);
  if (!ONLY || ONLY === "net") await benchNetwork(d, polis, env);

  console.log("\n" + JSON.stringify(results));
} finally {
  await cleanupAll();
}

async function benchContainers(
  d: TestDaemon,
  polis: string[],
  env: Record<string, string>,
): Promise<void> {
  const client = new PolisClient({ socket: d.socket });

  console.log(`\n# Polis (warm daemon, ${RUNS} runs each, median)`);
  const runRm = median(await timeCmd([...polis, "run", "--rm", "busybox", "true"], RUNS, env));
  report("polis run --rm busybox true", runRm, "ms");

  const cycle: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    const { Id } = await client.createContainer({ image: "busybox", cmd: ["true"] });
    const wait = await client.registerWait(Id);
    await client.startContainer(Id);
    await wait.result;
    await client.removeContainer(Id);
    cycle.push(performance.now() - t0);
  }
  report("create/start/wait/rm cycle (API)", median(cycle), "ms");

  report("starts per minute, serial (API)", await startsPerMinute(client, 1, RUNS), "/min");
  report(
    "starts per minute, 4 in parallel (API)",
    await startsPerMinute(client, 4, RUNS / 2),
    "/min",
  );

  await new Promise((r) => setTimeout(r, 1000));
  const idle = rssKiB(d.pid!) / 1024;
  report("daemon RSS 1 s after the runs (spares kept)", idle, "MiB");
  // The spare setup worker and init go 30 s after the last create (runtime SPARE_IDLE_MS).
  await new Promise((r) => setTimeout(r, 31_000));
  report("daemon RSS idle (30 s after the last start)", rssKiB(d.pid!) / 1024, "MiB");
  report("  of which anonymous (heap, stacks)", rssKiB(d.pid!, "RssAnon") / 1024, "MiB");
  report("  of which file-backed (deno's code pages)", rssKiB(d.pid!, "RssFile") / 1024, "MiB");
  const sleepers: string[] = [];
  for (let i = 0; i < 50; i++) {
    const { Id } = await client.createContainer({ image: "busybox", cmd: ["sleep", "3600"] });
    await client.startContainer(Id);
    sleepers.push(Id);
  }
  await new Promise((r) => setTimeout(r, 1000));
  const busy = rssKiB(d.pid!) / 1024;
  report("daemon RSS with 50 sleeping containers", busy, "MiB");
  report("daemon RSS per running container", (busy - idle) / 50, "MiB");

  for (let i = 0; i < 50; i++) {
    const { Id } = await client.createContainer({ image: "busybox", cmd: ["true"] });
    sleepers.push(Id);
  }
  const lat: number[] = [];
  for (let i = 0; i < 300; i++) {
    const t0 = performance.now();
    const list = await client.listContainers({ all: true });
    lat.push(performance.now() - t0);
    if (list.length < 100) throw new Error(`expected 100 containers, got ${list.length}`);
  }
  report("GET /v1/containers?all (100 containers) p50", pct(lat, 50), "ms");
  report("GET /v1/containers?all (100 containers) p99", pct(lat, 99), "ms");
  await Promise.all(sleepers.map((id) => client.removeContainer(id, { force: true })));
  client.close();

  // ---- anchors -------------------------------------------------------------
  console.log("\n# Anchors (same image, same machine, same run)");
  if (have("runc") && have("umoci")) {
    const bundle = `${tmp}/runc-bundle`;
    await new Deno.Command("umoci", {
      args: ["unpack", "--image", `${imgs.ociDir}:busybox:latest`, bundle],
      stdout: "null",
    }).output();
    const spec = JSON.parse(Deno.readTextFileSync(`${bundle}/config.json`));
    spec.process.terminal = false;
    spec.process.args = ["true"];
    Deno.writeTextFileSync(`${bundle}/config.json`, JSON.stringify(spec));
    let n = 0;
    const runcTimes: number[] = [];
    for (let i = 0; i < RUNS + 2; i++) {
      const t0 = performance.now();
      const out = await new Deno.Command("runc", {
        args: ["--root", `${tmp}/runc-state`, "run", "--bundle", bundle, `polis-bench-${n++}`],
        stdout: "null",
        stderr: "piped",
      }).output();
      if (!out.success) throw new Error(`runc: ${new TextDecoder().decode(out.stderr)}`);
      if (i >= 2) runcTimes.push(performance.now() - t0);
    }
    const runc = median(runcTimes);
    report("runc run (create+start+wait+delete) true", runc, "ms");
    ratio("polis run --rm / runc run", runRm, runc);
  } else {
    console.log("runc or umoci not installed: skipped (POLIS_BENCH_DEPS=1 installs them)");
  }

  if (have("podman")) {
    const podmanCgroupsBefore = libpodCgroups();
    const p = podmanCommand(`${tmp}/podman`);
    await new Deno.Command(p[0], {
      args: [...p.slice(1), "load", "-i", imgs.dockerArchive],
      stdout: "null",
      stderr: "null",
    }).output();
    const podman = await timePodmanRunTrue(p, ["--network", "none"]);
    report("podman run --rm --network none busybox true", podman, "ms");
    ratio("polis run --rm / podman run --rm (target ≤ 0.5)", runRm, podman);
    await new Deno.Command(p[0], {
      args: [...p.slice(1), "system", "reset", "-f"],
      stdout: "null",
      stderr: "null",
    }).output();
    // podman's cgroupfs manager leaves its (empty) parent cgroups: remove the ones this run made.
    for (const dir of libpodCgroups().filter((x) => !podmanCgroupsBefore.includes(x)).reverse()) {
      await Deno.remove(dir).catch(() => {});
    }
  } else {
    console.log("podman not installed: skipped (POLIS_BENCH_DEPS=1 installs it)");
  }
}

async function cleanupAll(): Promise<void> {
  await d.cleanup();
  await new Deno.Command("ip", { args: ["link", "del", benchNet.bridge], stderr: "null" }).output();
  benchNet.release();
  for (const m of Deno.readTextFileSync("/proc/self/mountinfo").split("\n")) {
    const mp = m.split(" ")[4];
    if (mp?.startsWith(tmp)) {
      await new Deno.Command("umount", { args: ["-l", mp], stderr: "null" }).output();
    }
  }
  await Deno.remove(tmp, { recursive: true }).catch(() => {});
}

/** A TCP port free on 127.0.0.1 right now. */
function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/**
 * CPU time (µs) used so far by the cgroup of process `pid` (the container: busybox httpd's
 * per-connection children are auto-reaped, so their time never reaches its cutime).
 */
function cgroupCpuUs(pid: number): number {
  for (const line of Deno.readTextFileSync(`/proc/${pid}/cgroup`).split("\n")) {
    const [, ctrls, path] = line.split(":");
    if (ctrls?.split(",").includes("cpuacct")) {
      return Number(Deno.readTextFileSync(`/sys/fs/cgroup/cpuacct${path}/cpuacct.usage`)) / 1000;
    }
    if (ctrls === "" && path !== undefined) {
      for (const root of ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"]) {
        try {
          const stat = Deno.readTextFileSync(`${root}${path}/cpu.stat`);
          return Number(/usage_usec (\d+)/.exec(stat)?.[1]);
        } catch {
          // not this mount
        }
      }
    }
  }
  return NaN;
}

interface WrkRun {
  rps: number;
  mbps: number;
  /** CPU time (client + server, user + system) per request, µs. */
  cpuUs: number;
}

/**
 * wrk against `url`: requests/s, MB/s, and CPU per request: wrk's own (read from its shell's
 * cutime/cstime once reaped) plus the server's container's. Softirq work is charged to whichever
 * task was running, mostly these two, so this is nearly the whole cost of a request; it moves
 * far less with other load on the machine than requests/s does.
 */
async function wrk(url: string, seconds: number, serverPid: number): Promise<WrkRun> {
  const s0 = cgroupCpuUs(serverPid);
  const out = await new Deno.Command("sh", {
    args: [
      "-c",
      `wrk -t2 -c16 -d${seconds}s ${url} && echo "cpu $(cut -d' ' -f16,17 /proc/$$/stat)"`,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const s1 = cgroupCpuUs(serverPid);
  const text = new TextDecoder().decode(out.stdout);
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(text);
  const tr = /Transfer\/sec:\s+([\d.]+)([KMG]?B)/.exec(text);
  const n = /(\d+) requests in/.exec(text);
  const cpu = /^cpu (\d+) (\d+)$/m.exec(text);
  if (!out.success || !rps || !tr || !n || !cpu || /Non-2xx|Socket errors/.test(text)) {
    throw new Error(`wrk ${url}: ${text}${new TextDecoder().decode(out.stderr)}`);
  }
  const scale: Record<string, number> = { B: 1 / 2 ** 20, KB: 1 / 1024, MB: 1, GB: 1024 };
  const clientUs = (Number(cpu[1]) + Number(cpu[2])) * 1e6 / CLOCK_TICKS;
  return {
    rps: Number(rps[1]),
    mbps: Number(tr[1]) * scale[tr[2]],
    cpuUs: (clientUs + s1 - s0) / Number(n[1]),
  };
}

/**
 * Issue 4's targets: HTTP throughput (wrk, from the host) to a busybox httpd serving 1 MiB
 * through a published port on 127.0.0.1 (connect4 redirect, see redirect.ts) against straight to the container's address
 * on a network made here; and `polis run --rm` on the default bridge against `podman run --rm`
 * on podman's default network. Everything podman's network made (its bridge, the netfilter
 * tables or chains netavark adds, ip_forward) is undone afterwards; nothing that was there before.
 */
async function benchNetwork(
  d: TestDaemon,
  polis: string[],
  env: Record<string, string>,
): Promise<void> {
  console.log("\n# Networking");
  await benchBridgeRun(polis, env);
  const tag = crypto.randomUUID().slice(0, 6);
  const net = `pbench-${tag}`;
  const name = `pbench-web-${tag}`;
  if (!have("wrk")) {
    console.log("wrk not installed: throughput skipped (POLIS_BENCH_DEPS=1 installs it)");
  } else {
    try {
      await d.ok(["network", "create", net]);
      const port = freePort();
      await d.ok([
        "run",
        "-d",
        "--name",
        name,
        "--network",
        net,
        "-p",
        `127.0.0.1:${port}:80`,
        "busybox",
        "sh",
        "-c",
        "mkdir -p /www && dd if=/dev/zero of=/www/f bs=1024 count=1024 2>/dev/null && " +
        "exec httpd -f -p 80 -h /www",
      ]);
      const ip = JSON.parse(await d.ok(["inspect", name]))[0].NetworkSettings.Networks[net]
        .IPAddress as string;
      const published = `http://127.0.0.1:${port}/f`;
      const direct = `http://${ip}:80/f`;
      for (const url of [published, direct]) {
        const deadline = Date.now() + 10_000;
        for (;;) {
          const r = await fetch(url).then(async (r) => (await r.arrayBuffer()).byteLength, () => 0);
          if (r === 1 << 20) break;
          if (Date.now() > deadline) throw new Error(`${url} does not serve 1 MiB`);
          await new Promise((res) => setTimeout(res, 100));
        }
      }
      const serverPid = JSON.parse(await d.ok(["inspect", name]))[0].State.Pid as number;
      // Other work on a shared machine moves requests/s by ±30% from one run to the next: many
      // short rounds, alternating which path goes first, and the median of each round's ratio
      // (3 rounds were not enough to tell 0.8 from 1.0). CPU per request barely depends on load.
      const pub: WrkRun[] = [];
      const dir: WrkRun[] = [];
      for (let i = 0; i < NET_ROUNDS; i++) {
        if (i % 2 === 0) {
          pub.push(await wrk(published, 3, serverPid));
          dir.push(await wrk(direct, 3, serverPid));
        } else {
          dir.push(await wrk(direct, 3, serverPid));
          pub.push(await wrk(published, 3, serverPid));
        }
      }
      report(
        "1 MiB GETs via published port 127.0.0.1",
        median(pub.map((x) => x.rps)),
        "req/s",
      );
      report("  same, MB/s", median(pub.map((x) => x.mbps)), "MB/s");
      report("  same, CPU per request (client + server)", median(pub.map((x) => x.cpuUs)), "µs");
      report("1 MiB GETs direct to the container address", median(dir.map((x) => x.rps)), "req/s");
      report("  same, MB/s ", median(dir.map((x) => x.mbps)), "MB/s");
      report("  same, CPU per request (client + server) ", median(dir.map((x) => x.cpuUs)), "µs");
      const ratios = pub.map((p, i) => p.rps / dir[i].rps);
      results["published port / direct throughput (target ≥ 0.9)"] = Number(
        median(ratios).toFixed(3),
      );
      console.log(
        `${"published port / direct throughput (target ≥ 0.9)".padEnd(52)} ${
          median(ratios).toFixed(2).padStart(9)
        } × (median of ${NET_ROUNDS} paired rounds)`,
      );
      ratio(
        "direct / published CPU per request",
        median(dir.map((x) => x.cpuUs)),
        median(pub.map((x) => x.cpuUs)),
      );
    } finally {
      await d.cli(["rm", "-f", name]);
      await d.cli(["network", "rm", net]);
    }
  }
}

/**
 * `run --rm` on the default bridge, Polis then podman on its default network. Measured before
 * the throughput rounds: thousands of connections just closed (TIME_WAIT, conntrack) slow the
 * creation and removal of network namespaces for a while, for both.
 */
async function benchBridgeRun(
  polis: string[],
  env: Record<string, string>,
): Promise<void> {
  const runBridge = median(
    await timeCmd([...polis, "run", "--rm", "--network", "bridge", "busybox", "true"], RUNS, env),
  );
  report("polis run --rm --network bridge busybox true", runBridge, "ms");
  if (!PODMAN) {
    console.log("BENCH_PODMAN=0: podman skipped");
    return;
  }
  if (!have("podman")) {
    console.log("podman not installed: skipped (POLIS_BENCH_DEPS=1 installs it)");
    return;
  }
  const podmanTables = ["filter", "nat", "mangle", "raw", "security", "netavark"];
  const tablesBefore = nftTables();
  const rtnl = new Rtnl();
  const linksBefore = new Set(rtnl.listLinks().map((l) => l.name));
  const forwardBefore = Deno.readTextFileSync("/proc/sys/net/ipv4/ip_forward").trim();
  const cgroupsBefore = libpodCgroups();
  const p = podmanCommand(`${tmp}/podman-net`, [
    "--network-config-dir",
    `${tmp}/podman-net/networks`,
  ]);
  try {
    await cmd(p[0], [...p.slice(1), "load", "-i", imgs.dockerArchive]);
    const podman = await timePodmanRunTrue(p, []);
    report("podman run --rm (default network) busybox true", podman, "ms");
    ratio("polis run --rm bridge / podman default net (target ≤ 0.3)", runBridge, podman);
  } finally {
    await new Deno.Command(p[0], {
      args: [...p.slice(1), "network", "prune", "-f"],
      stdout: "null",
      stderr: "null",
    }).output();
    await new Deno.Command(p[0], {
      args: [...p.slice(1), "system", "reset", "-f"],
      stdout: "null",
      stderr: "null",
    }).output();
    for (const l of rtnl.listLinks()) {
      if (!linksBefore.has(l.name) && /^(podman\d+|netavark)/.test(l.name)) {
        rtnl.deleteLinkIfExists(l.name);
      }
    }
    rtnl.close();
    for (const t of nftTables()) {
      const [family, table] = t.split(" ");
      if (!podmanTables.includes(table)) continue;
      if (!tablesBefore.includes(t)) {
        await cmd("nft", ["delete", "table", family, table]);
      } else {
        await removeNetavarkChains(family, table);
      }
    }
    if (Deno.readTextFileSync("/proc/sys/net/ipv4/ip_forward").trim() !== forwardBefore) {
      Deno.writeTextFileSync("/proc/sys/net/ipv4/ip_forward", forwardBefore);
    }
    for (const dir of libpodCgroups().filter((x) => !cgroupsBefore.includes(x)).reverse()) {
      await Deno.remove(dir).catch(() => {});
    }
  }
}

/** podman with its own storage under `dir` (never the host's), cgroupfs and file events. */
function podmanCommand(dir: string, extra: string[] = []): string[] {
  return [
    "podman",
    "--root",
    `${dir}/root`,
    "--runroot",
    `${dir}/run`,
    ...extra,
    "--storage-driver",
    "overlay",
    "--cgroup-manager",
    "cgroupfs",
    "--events-backend",
    "file",
  ];
}

/** Median of `podman run --rm … busybox true`, with polis's default rlimits. */
async function timePodmanRunTrue(podman: string[], opts: string[]): Promise<number> {
  return median(
    await timeCmd([
      ...podman,
      "run",
      "--rm",
      ...opts,
      "--ulimit",
      "nofile=1024:20000",
      "--ulimit",
      "nproc=4096:4096",
      "busybox:latest",
      "true",
    ]),
  );
}

/** "family name" of every nftables table. */
function nftTables(): string[] {
  const out = new Deno.Command("nft", { args: ["list", "tables"], stderr: "null" }).outputSync();
  return new TextDecoder().decode(out.stdout).split("\n")
    .map((l) => l.replace(/^table /, "").trim()).filter(Boolean);
}

/** In a table that was there before podman: its rules that jump to NETAVARK chains, then those. */
async function removeNetavarkChains(family: string, table: string): Promise<void> {
  const out = await new Deno.Command("nft", {
    args: ["-a", "list", "table", family, table],
    stdout: "piped",
    stderr: "null",
  }).output();
  let chain = "";
  const chains: string[] = [];
  for (const line of new TextDecoder().decode(out.stdout).split("\n")) {
    const c = /^\s*chain (\S+) \{/.exec(line);
    if (c) {
      chain = c[1];
      if (chain.startsWith("NETAVARK")) chains.push(chain);
      continue;
    }
    const h = /NETAVARK.*# handle (\d+)/.exec(line);
    if (h && !chain.startsWith("NETAVARK")) {
      await cmd("nft", ["delete", "rule", family, table, chain, "handle", h[1]]);
    }
  }
  for (const c of chains) await cmd("nft", ["flush", "chain", family, table, c]);
  for (const c of chains) await cmd("nft", ["delete", "chain", family, table, c]);
}
