/**
 * Starts a real `polis daemon` on a temp root, run dir, socket and cgroup parent,
 * drives it through the real CLI, and removes everything it made afterwards.
 * @module
 */

import { removeCgroupParent } from "../../src/security/mod.ts";
import { DAEMON_V8_FLAGS } from "../../src/daemon/options.ts";
import { iptablesPrefix, nftTableName, removeIptablesChains } from "../../src/network/mod.ts";

const MAIN = new URL("../../polis.ts", import.meta.url).pathname;
const DENO = Deno.execPath();

export const isRoot = Deno.uid() === 0;

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export class TestDaemon {
  readonly dir: string;
  readonly root: string;
  readonly runDir: string;
  readonly socket: string;
  readonly cgroupParent: string;
  #child?: Deno.ChildProcess;
  #log?: Deno.FsFile;

  /**
   * `main` is the entry to run (polis.ts, main.ts, or a bundled polis.js). Test daemons default to
   * `--network none` unless `defaultNetwork` says otherwise: parallel daemons must not
   * share the host's default `polis0` bridge.
   */
  constructor(
    readonly prefix: string,
    readonly main: string = MAIN,
    readonly net: {
      defaultNetwork?: string;
      bridge?: string;
      bridgeSubnet?: string;
      /** More daemon flags. */
      args?: string[];
    } = {},
  ) {
    this.dir = Deno.makeTempDirSync({ prefix: `polis-${prefix}-` });
    this.root = `${this.dir}/root`;
    this.runDir = `${this.dir}/run`;
    this.socket = `${this.dir}/run/polis.sock`;
    this.cgroupParent = `polis-test-${prefix}-${crypto.randomUUID().slice(0, 8)}`;
  }

  get env(): Record<string, string> {
    return { POLIS_SOCKET: this.socket, POLIS_LOG: "warn" };
  }

  async start(): Promise<void> {
    this.#log = Deno.openSync(`${this.dir}/daemon.log`, {
      append: true,
      create: true,
      write: true,
    });
    const cmd = new Deno.Command(DENO, {
      args: [
        "run",
        "-A",
        "--unstable-net",
        "--quiet",
        `--v8-flags=${DAEMON_V8_FLAGS}`,
        this.main,
        "daemon",
        "--root",
        this.root,
        "--run-dir",
        this.runDir,
        "--socket",
        this.socket,
        "--cgroup-parent",
        this.cgroupParent,
        // Tests never reach a registry off this machine (no DNS, no Docker Hub).
        "--offline",
        "--default-network",
        this.net.defaultNetwork ?? "none",
        ...(this.net.bridge ? ["--bridge", this.net.bridge] : []),
        ...(this.net.bridgeSubnet ? ["--bridge-subnet", this.net.bridgeSubnet] : []),
        ...(this.net.args ?? []),
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { POLIS_LOG: "info" },
    });
    this.#child = cmd.spawn();
    void this.#child.stdout.pipeTo(this.#logWriter()).catch(() => {});
    void this.#child.stderr.pipeTo(this.#logWriter()).catch(() => {});
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      if (await this.ping()) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`daemon did not come up; log:\n${this.daemonLog()}`);
  }

  #logWriter(): WritableStream<Uint8Array> {
    const f = this.#log!;
    return new WritableStream({
      write(chunk) {
        f.writeSync(chunk);
      },
    });
  }

  daemonLog(): string {
    try {
      return Deno.readTextFileSync(`${this.dir}/daemon.log`);
    } catch {
      return "";
    }
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  async ping(): Promise<boolean> {
    try {
      const client = Deno.createHttpClient({ proxy: { transport: "unix", path: this.socket } });
      try {
        const r = await fetch("http://127.0.0.1/v1/_ping", { client });
        await r.body?.cancel();
        return r.ok;
      } finally {
        client.close();
      }
    } catch {
      return false;
    }
  }

  /** Sends `signal` to the daemon and waits for it to exit. */
  async stop(signal: Deno.Signal = "SIGTERM"): Promise<void> {
    const c = this.#child;
    if (!c) return;
    try {
      c.kill(signal);
    } catch {
      // already gone
    }
    await c.status;
    this.#child = undefined;
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** Runs the real CLI against this daemon. */
  async cli(args: string[], opts: { stdin?: string; env?: Record<string, string> } = {}): Promise<
    CliResult
  > {
    const cmd = new Deno.Command(DENO, {
      args: ["run", "-A", "--unstable-net", "--quiet", this.main, ...args],
      stdin: opts.stdin !== undefined ? "piped" : "null",
      stdout: "piped",
      stderr: "piped",
      env: { ...this.env, ...opts.env },
    });
    const child = cmd.spawn();
    if (opts.stdin !== undefined) {
      const w = child.stdin.getWriter();
      await w.write(new TextEncoder().encode(opts.stdin));
      await w.close();
    }
    const out = await child.output();
    return {
      code: out.code,
      stdout: new TextDecoder().decode(out.stdout),
      stderr: new TextDecoder().decode(out.stderr),
    };
  }

  /** Like cli() but throws with the output when the exit code is not 0. */
  async ok(args: string[]): Promise<string> {
    const r = await this.cli(args);
    if (r.code !== 0) {
      throw new Error(`polis ${args.join(" ")} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
    }
    return r.stdout;
  }

  /** Removes every container, stops the daemon, unmounts and deletes everything. */
  async cleanup(): Promise<void> {
    try {
      if (!this.#child) await this.start().catch(() => {});
      if (this.#child) {
        const ids = (await this.cli(["ps", "-aq", "--no-trunc"])).stdout.split("\n").filter(
          Boolean,
        );
        if (ids.length) await this.cli(["rm", "-f", ...ids]);
      }
    } finally {
      await this.stop("SIGKILL").catch(() => {});
      // A killed daemon keeps the default network's rules it holds while running: its own
      // tables (named for its root), never anyone else's.
      for (const t of [nftTableName(this.root), `${nftTableName(this.root)}_net`]) {
        // ip: ports and isolation; ip6: dual-stack isolation and firewall; bridge: firewall.
        for (const family of ["ip", "ip6", "bridge"]) {
          await new Deno.Command("nft", {
            args: ["delete", "table", family, t],
            stderr: "null",
          }).output().catch(() => {});
        }
      }
      try {
        removeIptablesChains(iptablesPrefix(nftTableName(this.root)));
      } catch (e) {
        console.error(`cleanup: iptables chains: ${e}`);
      }
      this.#log?.close();
      unmountUnder(this.dir);
      killCgroupLeftovers(this.cgroupParent);
      try {
        removeCgroupParent(this.cgroupParent);
      } catch (e) {
        console.error(`cleanup: cgroup parent ${this.cgroupParent}: ${e}`);
      }
      await Deno.remove(this.dir, { recursive: true }).catch(() => {});
    }
  }
}

/** Unmounts (lazily) every mount below `dir`, deepest first. */
export function unmountUnder(dir: string): void {
  const mounts = Deno.readTextFileSync("/proc/self/mountinfo").split("\n")
    .map((l) => l.split(" ")[4])
    .filter((m) => m && (m === dir || m.startsWith(dir + "/")))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) {
    new Deno.Command("umount", { args: ["-l", m], stderr: "null" }).outputSync();
  }
}

/** Lists cgroup dirs named like our parent in every v1/v2 hierarchy. */
export function cgroupDirs(parent: string): string[] {
  const out: string[] = [];
  const self = Deno.readTextFileSync("/proc/self/cgroup").split("\n").filter(Boolean);
  for (const line of self) {
    const [, ctrls, path] = line.split(":");
    const name = ctrls === "" ? "unified" : ctrls.replace(/^name=/, "");
    const base = `/sys/fs/cgroup/${name}${path === "/" ? "" : path}/${parent}`;
    try {
      Deno.statSync(base);
      out.push(base);
    } catch {
      // not in this hierarchy
    }
  }
  return out;
}

function killCgroupLeftovers(parent: string): void {
  for (const base of cgroupDirs(parent)) {
    for (const e of safeReadDir(base)) {
      if (!e.isDirectory) continue;
      try {
        for (const pid of Deno.readTextFileSync(`${base}/${e.name}/cgroup.procs`).split("\n")) {
          if (pid) Deno.kill(Number(pid), "SIGKILL");
        }
      } catch {
        // gone
      }
      try {
        Deno.removeSync(`${base}/${e.name}`);
      } catch {
        // busy; reported by removeCgroupParent
      }
    }
  }
}

function safeReadDir(d: string): Deno.DirEntry[] {
  try {
    return [...Deno.readDirSync(d)];
  } catch {
    return [];
  }
}

/** Mounts under `dir` (for "rm leaves no mount" checks). */
export function mountsUnder(dir: string): string[] {
  return Deno.readTextFileSync("/proc/self/mountinfo").split("\n")
    .map((l) => l.split(" ")[4])
    .filter((m) => m && m.startsWith(dir + "/"));
}

const SUBNET_LOCKS = "/tmp/polis-test-subnets";

/**
 * A /24 in 10.230.0.0/16 and a bridge name no other test process holds (lock files
 * created exclusively), for daemons whose default network is a real bridge.
 */
export function allocTestBridge(): { bridge: string; subnet: string; release(): void } {
  Deno.mkdirSync(SUBNET_LOCKS, { recursive: true });
  const start = Math.floor(Math.random() * 256);
  for (let k = 0; k < 256; k++) {
    const n = (start + k) % 256;
    const lock = `${SUBNET_LOCKS}/${n}`;
    try {
      Deno.writeTextFileSync(lock, String(Deno.pid), { createNew: true });
    } catch {
      continue;
    }
    return {
      bridge: `ptest${n}`,
      subnet: `10.230.${n}.0/24`,
      release: () => {
        try {
          Deno.removeSync(lock);
          Deno.removeSync(SUBNET_LOCKS); // only succeeds when no other process holds a lock
        } catch {
          // already gone, or other test processes still hold subnets
        }
      },
    };
  }
  throw new Error("no free test subnet in 10.230.0.0/16");
}
