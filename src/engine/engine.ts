/**
 * The engine: containers and images as users see them. It turns a create
 * request into a record, and a start into a rootfs mount, an OCI bundle and a
 * runtime create/start; it pumps logs, reaps exits and reconciles after a
 * daemon restart with what is really running.
 * @module
 */

import type { DatabaseSync } from "node:sqlite";
import {
  existsSync,
  generateName,
  logger,
  newId,
  PolisError,
  removeIfExistsSync,
  validateName,
  writeFileAtomicSync,
} from "../core/mod.ts";
import {
  type ImageRecord,
  ImageStore,
  isLoopbackHost,
  parseReference,
  pullImage,
  pushImage,
  RegistryClient,
  type RegistryConfig,
  registryConfigFromEnv,
  resolveProcess,
  resolveUser,
  type RootfsDescription,
  saveImages,
} from "../image/mod.ts";
import * as runtime from "../runtime/mod.ts";
import { detectCgroupMode, openCgroup } from "../security/mod.ts";
import { FdPoller, mkfifo } from "../../ffi/mod.ts";
import { openDatabase } from "./db.ts";
import { isMountPoint } from "./mounts.ts";
import { statusText } from "./humanize.ts";
import { LogWriter, pumpFifo, readLogs, releaseFifoReader } from "./logs.ts";
import {
  type ContainerConfig,
  type ContainerRecord,
  ContainerRecords,
  type ContainerState,
  initialState,
} from "./records.ts";
import { buildOciSpec } from "./spec.ts";
import { Trash } from "./trash.ts";
import { Networking, type NetworkingOptions } from "./networking.ts";
import type {
  ContainerCreateSpec,
  ContainerInspect,
  ContainerListOptions,
  ContainerSummary,
  DiskUsage,
  DiskUsageRow,
  EngineApi,
  ImageInspect,
  ImagePruneResult,
  ImageSummary,
  LogEntry,
  LogOptions,
  PullImageOptions,
  PullImageResult,
  PullProgress,
  PushImageResult,
  RemoveImageResult,
  SystemInfo,
  VersionInfo,
  WaitCondition,
  WaitResult,
} from "./types.ts";

export const POLIS_VERSION = "0.1.0";
export const API_VERSION = "1";

export interface EngineOptions {
  /** Persistent state: database, images, container dirs. */
  root: string;
  /** Volatile state: runtime state, FIFOs. */
  runDir: string;
  /** Parent of container cgroups; relative paths are under the daemon's own cgroup. */
  cgroupParent?: string;
  /** Use overlayfs for rootfs (default: probe). */
  overlay?: boolean;
  /** The default bridge network's subnet and device, and the pool for new networks. */
  network?: NetworkingOptions;
  /** Insecure registries and docker.io mirrors (default: from POLIS_* environment). */
  registry?: RegistryConfig;
  /**
   * Air-gapped mode: pull only from registries on this machine (loopback or
   * localhost); anything else fails at once without a network attempt.
   */
  offline?: boolean;
  /**
   * Keep one loaded setup Worker for the next container start (default true): 30-50 ms less
   * per start for about 10 MiB while it waits; ended after a minute without starts.
   */
  spareSetupWorker?: boolean;
}

/** What the engine holds in memory for a container whose process is alive. */
interface Live {
  pid: number;
  writer: LogWriter;
  pumps: Promise<void>;
  fifos: string[];
  exited: Promise<void>;
  /** True when the daemon that started it is gone and the exit status cannot be known. */
  adopted: boolean;
}

const DEFAULT_STOP_TIMEOUT = 10;

export class Engine implements EngineApi {
  readonly db: DatabaseSync;
  readonly images: ImageStore;
  readonly records: ContainerRecords;
  readonly #rt: runtime.RuntimeConfig;
  readonly #reaper: runtime.Reaper;
  readonly #live = new Map<string, Live>();
  readonly #waiters = new Map<string, ((r: WaitResult) => void)[]>();
  /** Waits for a container's removal (condition "removed"). */
  readonly #removalWaiters = new Map<string, ((r: WaitResult) => void)[]>();
  readonly #changes = new Map<string, Set<() => void>>();
  readonly #locks = new Map<string, Promise<unknown>>();
  readonly #cgroupParent: string;
  /** Where removed containers' files go (root and run dir: each on its own filesystem). */
  readonly #trash: Trash;
  readonly #runTrash: Trash;
  /** Watches every container's log FIFOs (see pumpFifo). */
  readonly #fifoPoller = new FdPoller();
  readonly networks: Networking;

  private constructor(readonly opts: EngineOptions) {
    for (const d of [opts.root, `${opts.root}/containers`, opts.runDir, `${opts.runDir}/fifos`]) {
      Deno.mkdirSync(d, { recursive: true, mode: 0o711 });
    }
    this.db = openDatabase(`${opts.root}/polis.db`);
    this.images = new ImageStore({ root: opts.root, db: this.db, overlay: opts.overlay });
    this.#trash = new Trash(`${opts.root}/trash`);
    this.#runTrash = new Trash(`${opts.runDir}/trash`);
    this.records = new ContainerRecords(this.db);
    this.networks = new Networking(this.db, { ...opts.network, root: opts.root });
    this.networks.containerName = (id) => this.records.get(id)?.name;
    this.networks.containerRunning = (id) => this.#live.has(id);
    this.networks.containerMode = (id) => this.records.get(id)?.config.networkMode;
    this.networks.containerSpec = (id) => this.records.get(id)?.config.spec;
    // The container's files, and those of running containers sharing its namespace.
    this.networks.filesChanged = (id) => {
      for (const rec of this.records.all()) {
        if (rec.id !== id && rec.config.networkMode !== `container:${id}`) continue;
        if (this.#live.has(rec.id)) this.networks.refreshFiles(rec, this.#containerDir(rec.id));
      }
    };
    this.networks.containerRef = (ref) => {
      try {
        const r = this.records.resolve(ref);
        return { id: r.id, pid: this.#live.get(r.id)?.pid };
      } catch {
        return undefined;
      }
    };
    // A loaded setup Worker waits for the next create: 30-50 ms less per start (no isolate
    // to make on the way), for about 10 MiB while it waits; the runtime ends it after a
    // minute without creates.
    this.#rt = {
      stateRoot: `${opts.runDir}/runtime`,
      spareSetupWorker: opts.spareSetupWorker ?? true,
    };
    this.#reaper = new runtime.Reaper();
    this.#cgroupParent = (opts.cgroupParent ?? "polis").replace(/\/+$/, "");
  }

  /** Opens the engine and reconciles its records with the machine. */
  static async open(opts: EngineOptions): Promise<Engine> {
    const e = new Engine(opts);
    await e.#reconcile();
    return e;
  }

  async close(): Promise<void> {
    this.#reaper.close();
    runtime.dropSpareWorker();
    // Containers keep running (live restore); only our handles go.
    await this.#fifoPoller.close();
    for (const l of this.#live.values()) l.writer.close();
    this.networks.close();
    this.db.close();
    await Promise.all([this.#trash.drain(), this.#runTrash.drain()]);
  }

  // ---- containers --------------------------------------------------------

  createContainer(request: ContainerCreateSpec): Promise<{ Id: string; Warnings: string[] }> {
    const image = this.images.get(request.image);
    // -P: the image's exposed ports, each to a free host port, kept as explicit mappings.
    const spec = this.networks.withPublishAll(request, image.config.ExposedPorts);
    const name = spec.name ? validateName(spec.name) : this.#freeName();
    if (this.records.nameExists(name)) {
      throw PolisError.conflict(
        `the container name "/${name}" is already in use by another container`,
      );
    }
    if (spec.memory !== undefined && spec.memory < 6 * 1024 * 1024) {
      throw PolisError.invalid("minimum memory limit allowed is 6MB");
    }
    if (spec.pidsLimit !== undefined && (!Number.isInteger(spec.pidsLimit))) {
      throw PolisError.invalid(`invalid pids limit ${spec.pidsLimit}`);
    }
    const proc = resolveProcess(image.config, {
      cmd: spec.cmd,
      entrypoint: spec.entrypoint,
      env: spec.env,
      workingDir: spec.workingDir,
      user: spec.user,
    });
    const id = newId();
    const hostname = spec.hostname ?? id.slice(0, 12);
    const networkMode = this.networks.resolveMode(spec);
    const entrypointOverride = spec.entrypoint !== undefined;
    const config: ContainerConfig = {
      spec,
      imageRef: spec.image,
      args: proc.args,
      env: [
        ...proc.env,
        ...(proc.env.some((e) => e.startsWith("HOSTNAME=")) ? [] : [
          `HOSTNAME=${hostname}`,
        ]),
      ],
      cwd: proc.cwd,
      user: proc.user,
      hostname,
      networkMode,
      stopSignal: image.config.StopSignal,
      cgroupsPath: `${this.#cgroupParent}/${id}`,
      entrypoint: entrypointOverride
        ? (spec.entrypoint!.filter((s) => s !== "").length ? spec.entrypoint! : null)
        : (image.config.Entrypoint ?? null),
      cmd: spec.cmd ?? (entrypointOverride ? null : image.config.Cmd ?? null),
    };
    const rec: ContainerRecord = {
      id,
      name,
      imageId: image.id,
      created: new Date().toISOString(),
      config,
      state: initialState(),
    };
    this.records.insert(rec);
    try {
      this.networks.allocate(rec);
    } catch (e) {
      this.records.delete(id);
      throw e;
    }
    return Promise.resolve({ Id: id, Warnings: [] });
  }

  startContainer(ref: string): Promise<void> {
    const rec = this.records.resolve(ref);
    return this.#locked(rec.id, () => this.#start(rec.id));
  }

  async #start(id: string): Promise<void> {
    const rec = this.#get(id);
    if (rec.state.status === "running") return;
    if (rec.state.status === "removing") {
      throw PolisError.conflict(`container ${rec.name} is marked for removal`);
    }
    const cdir = this.#containerDir(id);
    Deno.mkdirSync(cdir, { recursive: true, mode: 0o710 });
    const image = this.images.get(rec.imageId);
    const undo: (() => void | Promise<void>)[] = [];
    try {
      const rootfs = this.images.prepareRootfs(image.id, id);
      const rootPath = this.#mountRootfs(rootfs);
      undo.push(() => this.#unmountRootfs(id));

      const user = resolveUser(rootPath, rec.config.user);
      const bundle = `${cdir}/bundle`;
      Deno.mkdirSync(bundle, { recursive: true, mode: 0o700 });
      const ociSpec = buildOciSpec({
        rootfs: rootPath,
        args: rec.config.args,
        // docker sets HOME from the user's passwd entry unless the env names one.
        env: rec.config.env.some((e) => e.startsWith("HOME="))
          ? rec.config.env
          : [...rec.config.env, `HOME=${user.home}`],
        cwd: rec.config.cwd,
        uid: user.uid,
        gid: user.gid,
        additionalGids: user.additionalGids,
        hostname: rec.config.hostname,
        cgroupsPath: rec.config.cgroupsPath,
        memory: rec.config.spec.memory,
        nanoCpus: rec.config.spec.nanoCpus,
        pidsLimit: rec.config.spec.pidsLimit,
        networkMode: rec.config.networkMode,
        netnsPath: this.networks.joinNetns(rec),
        annotations: { "org.polis.container.name": rec.name },
        extraMounts: this.networks.prepareFiles(rec, cdir),
      });
      writeFileAtomicSync(`${bundle}/config.json`, JSON.stringify(ociSpec, null, 2), 0o644, {
        durable: false,
      });

      const fifos = this.#makeFifos(id);
      undo.push(() => fifos.forEach((f) => removeIfExistsSync(f)));

      // A stale runtime state (crash between create and start) would make create fail.
      await this.#runtimeDelete(id);
      const st = await runtime.createContainer(this.#rt, {
        id,
        bundle,
        stdio: { stdout: fifos[0], stderr: fifos[1] },
      });
      undo.push(() => this.#runtimeDelete(id));

      const writer = new LogWriter(this.#logPath(id));
      undo.push(() => writer.close());
      const pumps = Promise.all([
        pumpFifo(this.#fifoPoller, fifos[0], "stdout", writer),
        pumpFifo(this.#fifoPoller, fifos[1], "stderr", writer),
      ]).then(() => {}, (e) => logger.warn("log pump failed", { id, error: String(e) }));
      writer.onAppend(() => this.#notify(id));

      undo.push(() => this.networks.teardown(rec));
      await this.networks.setup(rec, st.pid!);
      await runtime.startContainer(this.#rt, id);
      const state: ContainerState = {
        ...rec.state,
        status: "running",
        pid: st.pid!,
        exitCode: 0,
        oomKilled: false,
        error: "",
        startedAt: new Date().toISOString(),
        finishedAt: rec.state.finishedAt,
        lastSignal: undefined,
      };
      this.records.updateState(id, state);
      const live: Live = {
        pid: st.pid!,
        writer,
        pumps,
        fifos,
        exited: Promise.resolve(),
        adopted: false,
      };
      live.exited = this.#reaper.watch(st.pid!).then(
        (s) => this.#onExit(id, s.exitCode),
        (e) => this.#onExit(id, undefined, String(e)),
      );
      this.#live.set(id, live);
      this.#notify(id);
    } catch (err) {
      for (const u of undo.reverse()) {
        try {
          await u();
        } catch (cleanupErr) {
          logger.warn("cleanup after failed start", { id, error: String(cleanupErr) });
        }
      }
      const e = mapStartError(err);
      const exitCode = (e.details?.exitCode as number | undefined) ?? 128;
      this.records.updateState(id, {
        ...this.#get(id).state,
        status: rec.state.status === "exited" ? "exited" : "created",
        exitCode,
        error: e.message,
      });
      throw e;
    }
  }

  async #onExit(id: string, exitCode: number | undefined, error = ""): Promise<void> {
    const live = this.#live.get(id);
    const rec = this.records.get(id);
    if (!live || !rec) return;
    // All writers are gone once PID 1 of the namespace exits; give the pumps a moment to drain.
    await Promise.race([live.pumps, new Promise((r) => setTimeout(r, 2000))]);
    live.writer.close();
    let oomKilled = false;
    try {
      oomKilled = openCgroup(rec.config.cgroupsPath).oomKilled();
    } catch {
      // cgroup already gone (e.g. removed during reconcile)
    }
    const code = exitCode ?? (rec.state.lastSignal ? 128 + rec.state.lastSignal : 255);
    const state: ContainerState = {
      ...rec.state,
      status: "exited",
      pid: 0,
      exitCode: code,
      oomKilled,
      finishedAt: new Date().toISOString(),
      error: exitCode === undefined && !rec.state.lastSignal
        ? error || "exit status unknown: the container ended while the daemon was away"
        : "",
    };
    this.records.updateState(id, state);
    this.#live.delete(id);
    // Waiters learn the exit as soon as it is known; the clean-up below runs under the
    // container's lock, so a start that follows at once waits for it.
    const waiters = this.#waiters.get(id) ?? [];
    this.#waiters.delete(id);
    for (const w of waiters) w({ StatusCode: code, OOMKilled: oomKilled });
    this.#notify(id);
    await this.#locked(id, async () => {
      await this.#runtimeDelete(id);
      try {
        this.#unmountRootfs(id);
      } catch (e) {
        logger.warn("unmount rootfs", { id, error: String(e) });
      }
      live.fifos.forEach((f) => removeIfExistsSync(f));
      await this.networks.teardown(rec);
    });
    if (rec.config.spec.autoRemove) {
      await this.removeContainer(id, { force: true }).catch((e) => {
        logger.warn("auto-remove failed", { id, error: String(e) });
        // Whoever waits for the removal must not wait forever.
        this.#settleRemovalWaiters(id, { StatusCode: code, OOMKilled: oomKilled });
      });
    }
  }

  async stopContainer(ref: string, timeout?: number): Promise<void> {
    const rec = this.records.resolve(ref);
    const live = this.#live.get(rec.id);
    if (!live) return; // docker: stopping a stopped container is not an error
    const sig = runtime.parseSignal(rec.config.stopSignal ?? "SIGTERM");
    this.#signal(rec.id, sig);
    const t = timeout ?? DEFAULT_STOP_TIMEOUT;
    const done = await Promise.race([
      live.exited.then(() => true),
      new Promise<boolean>((r) => setTimeout(() => r(false), t * 1000)),
    ]);
    if (!done && this.#live.has(rec.id)) {
      this.#signal(rec.id, 9);
      await live.exited;
    }
  }

  killContainer(ref: string, signal = "SIGKILL"): Promise<void> {
    const rec = this.records.resolve(ref);
    if (!this.#live.has(rec.id)) {
      throw PolisError.conflict(`container ${rec.id} is not running`);
    }
    const sig = runtime.parseSignal(signal);
    this.#signal(rec.id, sig);
    return Promise.resolve();
  }

  #signal(id: string, sig: number): void {
    const rec = this.#get(id);
    this.records.updateState(id, { ...rec.state, lastSignal: sig });
    runtime.killContainer(this.#rt, id, sig);
  }

  async restartContainer(ref: string, timeout?: number): Promise<void> {
    const rec = this.records.resolve(ref);
    await this.stopContainer(rec.id, timeout);
    await this.startContainer(rec.id);
    const r = this.#get(rec.id);
    this.records.updateState(rec.id, { ...r.state, restartCount: r.state.restartCount + 1 });
  }

  waitContainer(ref: string, condition: WaitCondition = "next-exit"): Promise<WaitResult> {
    const rec = this.records.resolve(ref);
    if (condition === "removed") {
      return new Promise((resolve) => {
        const list = this.#removalWaiters.get(rec.id) ?? [];
        list.push(resolve);
        this.#removalWaiters.set(rec.id, list);
      });
    }
    if (!this.#live.has(rec.id) && rec.state.status !== "created") {
      return Promise.resolve({ StatusCode: rec.state.exitCode, OOMKilled: rec.state.oomKilled });
    }
    return new Promise((resolve) => {
      const list = this.#waiters.get(rec.id) ?? [];
      list.push(resolve);
      this.#waiters.set(rec.id, list);
    });
  }

  #settleRemovalWaiters(id: string, result: WaitResult): void {
    const waiters = this.#removalWaiters.get(id) ?? [];
    this.#removalWaiters.delete(id);
    for (const w of waiters) w(result);
  }

  async removeContainer(ref: string, opts: { force?: boolean } = {}): Promise<void> {
    const rec = this.records.resolve(ref);
    const live = this.#live.get(rec.id);
    if (live) {
      if (!opts.force) {
        throw PolisError.conflict(
          `cannot remove container "${rec.name}": container is running: stop the container before removing or force remove`,
        );
      }
      // Keep the auto-remove path from racing us.
      this.#signal(rec.id, 9);
      await live.exited;
    }
    await this.#locked(rec.id, async () => {
      const cur = this.records.get(rec.id);
      if (!cur) return;
      this.records.updateState(rec.id, { ...cur.state, status: "removing" });
      await this.#removeFiles(cur);
      this.records.delete(rec.id);
      const result = { StatusCode: cur.state.exitCode, OOMKilled: cur.state.oomKilled };
      const waiters = this.#waiters.get(rec.id) ?? [];
      this.#waiters.delete(rec.id);
      for (const w of waiters) w(result);
      this.#settleRemovalWaiters(rec.id, result);
      this.#notify(rec.id);
    });
  }

  async #removeFiles(rec: ContainerRecord): Promise<void> {
    await this.#runtimeDelete(rec.id);
    this.#unmountRootfs(rec.id);
    const rootfs = `${this.#containerDir(rec.id)}/rootfs`;
    if (existsSync(rootfs) && isMountPoint(rootfs)) {
      throw PolisError.precondition(`rootfs of container ${rec.id} is still mounted at ${rootfs}`);
    }
    this.networks.release(rec.id);
    // The container's dir holds its overlay upper/work dirs (the image store's), bundle,
    // generated /etc files and logs: all of it goes, in the background.
    this.#trash.discard(this.#containerDir(rec.id));
    this.#runTrash.discard(`${this.opts.runDir}/fifos/${rec.id}`);
  }

  listContainers(opts: ContainerListOptions = {}): ContainerSummary[] {
    const out: ContainerSummary[] = [];
    for (const rec of this.records.all()) {
      if (!opts.all && rec.state.status !== "running") continue;
      if (!matchFilters(rec, opts.filters ?? {}, (r) => this.#imageName(r))) continue;
      out.push({
        Id: rec.id,
        Names: [`/${rec.name}`],
        Image: this.#imageName(rec),
        ImageID: rec.imageId,
        Command: shellJoin(rec.config.args),
        Created: Math.floor(Date.parse(rec.created) / 1000),
        State: rec.state.status,
        Status: statusText(rec.state),
        Labels: rec.config.spec.labels ?? {},
      });
    }
    return out;
  }

  inspectContainer(ref: string): ContainerInspect {
    const rec = this.records.resolve(ref);
    const s = rec.state;
    const c = rec.config;
    return {
      Id: rec.id,
      Created: rec.created,
      Path: c.args[0] ?? "",
      Args: c.args.slice(1),
      State: {
        Status: s.status,
        Running: s.status === "running",
        Paused: false,
        Restarting: false,
        OOMKilled: s.oomKilled,
        Dead: s.status === "dead",
        Pid: s.pid,
        ExitCode: s.exitCode,
        Error: s.error,
        StartedAt: s.startedAt,
        FinishedAt: s.finishedAt,
      },
      Image: rec.imageId,
      Name: `/${rec.name}`,
      RestartCount: s.restartCount,
      Driver: this.images.overlay ? "overlay" : "copy",
      LogPath: this.#logPath(rec.id),
      HostConfig: {
        Memory: c.spec.memory ?? 0,
        NanoCpus: c.spec.nanoCpus ?? 0,
        PidsLimit: c.spec.pidsLimit ?? null,
        AutoRemove: c.spec.autoRemove ?? false,
        NetworkMode: c.networkMode,
      },
      Config: {
        Hostname: c.hostname,
        User: c.spec.user ?? "",
        Env: c.env,
        Cmd: c.cmd,
        Entrypoint: c.entrypoint,
        Image: c.imageRef,
        WorkingDir: c.spec.workingDir ?? "",
        Labels: c.spec.labels ?? {},
      },
      NetworkSettings: {
        ...this.networks.settings(rec, s.status === "running"),
        Ports: this.networks.portSettings(rec),
      },
    };
  }

  containerLogs(ref: string, opts: LogOptions): AsyncIterable<LogEntry> {
    const rec = this.records.resolve(ref);
    const id = rec.id;
    return readLogs(this.#logPath(id), opts, {
      // A follower attached before start (as `run` does) waits for the first start.
      live: () => {
        if (this.#live.has(id)) return true;
        const r = this.records.get(id);
        return r !== undefined && r.state.status === "created" && !r.state.error;
      },
      changed: () => this.#changed(id),
    });
  }

  // ---- images ------------------------------------------------------------

  listImages(): ImageSummary[] {
    return this.images.list().map((i) => ({
      Id: i.id,
      RepoTags: i.repoTags,
      RepoDigests: i.repoDigests,
      Created: Math.floor(Date.parse(i.created) / 1000) || 0,
      Size: i.size,
    }));
  }

  loadImages(source: string | ReadableStream<Uint8Array>): Promise<{ loaded: string[] }> {
    return this.images.load(source);
  }

  async pullImage(
    ref: string,
    opts: PullImageOptions = {},
    onProgress?: (p: PullProgress) => void,
  ): Promise<PullImageResult> {
    const config = this.#registryConfig();
    if (this.opts.offline) {
      // docker.io may still come from a mirror on this machine; the client refuses the rest.
      const { domain } = parseReference(ref);
      const mirrored = domain === "docker.io" &&
        (config.mirrors ?? []).some((m) => URL.canParse(m) && isLoopbackHost(new URL(m).host));
      if (!isLoopbackHost(domain) && !mirrored) {
        throw PolisError.notFound(
          `No such image: ${ref} (the daemon runs --offline: only registries on this machine are reachable)`,
        );
      }
    }
    const r = await pullImage(this.images, ref, {
      platform: opts.platform,
      credentials: opts.auth,
      config,
      onProgress,
    });
    return { image: r.id, reference: r.reference, digest: r.digest };
  }

  #registryConfig(): RegistryConfig {
    return { ...(this.opts.registry ?? registryConfigFromEnv()), offline: this.opts.offline };
  }

  removeImage(ref: string, opts: { force?: boolean } = {}): Promise<RemoveImageResult[]> {
    return Promise.resolve(this.images.remove(ref, {
      force: opts.force,
      usedBy: (imageId) => this.records.usesImage(imageId),
    }));
  }

  tagImage(source: string, target: string): void {
    this.images.tag(source, target);
  }

  inspectImage(ref: string): ImageInspect {
    return this.images.inspect(ref) as ImageInspect;
  }

  async pushImage(
    ref: string,
    opts: { auth?: { username: string; password: string } } = {},
    onProgress?: (p: PullProgress) => void,
  ): Promise<PushImageResult> {
    const parts = this.images.exportParts(ref);
    const progress: { id: string; status: string }[] = [];
    const r = await pushImage(parts, ref, {
      credentials: opts.auth,
      config: this.#registryConfig(),
      onProgress: (p) => {
        onProgress?.(p);
        if (p.id !== undefined && p.status !== "Pushing" && p.status !== "Preparing") {
          progress.push({ id: p.id, status: p.status });
        }
      },
    });
    return { ...r, progress };
  }

  async login(server: string, auth: { username: string; password: string }): Promise<void> {
    await new RegistryClient(server, "", {
      config: this.#registryConfig(),
      credentials: auth,
      retries: 1,
    }).checkLogin();
  }

  saveImages(
    refs: string[],
    format: "docker-archive" | "oci" = "docker-archive",
  ): ReadableStream<Uint8Array> {
    if (refs.length === 0) throw PolisError.invalid("save: no image given");
    const seen = new Set<string>();
    const parts = refs.map((r) => this.images.exportParts(r))
      .filter((p) => !seen.has(p.record.id) && seen.add(p.record.id));
    return saveImages(parts, format);
  }

  pruneImages(opts: { all?: boolean } = {}): Promise<ImagePruneResult> {
    const usedBy = (imageId: string) => this.records.usesImage(imageId);
    const deleted: RemoveImageResult[] = [];
    let reclaimed = 0;
    for (const img of this.images.list()) {
      if (usedBy(img.id) !== undefined) continue;
      if (!opts.all && img.repoTags.length > 0) continue;
      try {
        // By id with force: every name goes with it (none is in use: checked above).
        const r = this.images.remove(img.id, { force: true, usedBy });
        deleted.push(...r);
        if (r.some((x) => x.Deleted === img.id)) reclaimed += img.size;
      } catch (e) {
        if (!(e instanceof PolisError && e.code === "not_found")) throw e;
      }
    }
    return Promise.resolve({ ImagesDeleted: deleted, SpaceReclaimed: reclaimed });
  }

  diskUsage(): DiskUsage {
    const images = this.images.list();
    const containers = this.records.all();
    const usedImages = new Set(containers.map((c) => c.imageId));
    const active = images.filter((i) => usedImages.has(i.id));
    const size = this.images.layersSize(images.flatMap((i) => i.chainIds));
    const activeSize = this.images.layersSize(active.flatMap((i) => i.chainIds));
    let cSize = 0;
    let cReclaim = 0;
    let running = 0;
    for (const c of containers) {
      const bytes = safe(() => this.images.containerDiskBytes(c.id), 0);
      cSize += bytes;
      if (c.state.status === "running") running++;
      else cReclaim += bytes;
    }
    const none = (Type: DiskUsageRow["Type"]): DiskUsageRow => ({
      Type,
      Total: 0,
      Active: 0,
      Size: 0,
      Reclaimable: 0,
      Supported: false,
    });
    return {
      Rows: [
        {
          Type: "Images",
          Total: images.length,
          Active: active.length,
          Size: size,
          Reclaimable: size - activeSize,
          Supported: true,
        },
        {
          Type: "Containers",
          Total: containers.length,
          Active: running,
          Size: cSize,
          Reclaimable: cReclaim,
          Supported: true,
        },
        none("Local Volumes"),
        none("Build Cache"),
      ],
    };
  }

  // ---- system ------------------------------------------------------------

  info(): SystemInfo {
    const all = this.records.all();
    const running = all.filter((r) => r.state.status === "running").length;
    const mode = safe(() => detectCgroupMode(), "unknown");
    return {
      ID: this.#daemonId(),
      Containers: all.length,
      ContainersRunning: running,
      ContainersPaused: 0,
      ContainersStopped: all.length - running,
      Images: this.images.list().length,
      Driver: this.images.overlay ? "overlay" : "copy",
      CgroupDriver: "cgroupfs",
      CgroupVersion: mode === "v2" ? "2" : "1",
      KernelVersion: Deno.osRelease(),
      OperatingSystem: safe(() => osName(), "Linux"),
      OSType: "linux",
      Architecture: Deno.build.arch,
      NCPU: navigator.hardwareConcurrency,
      MemTotal: Deno.systemMemoryInfo().total,
      DockerRootDir: this.opts.root,
      Name: Deno.hostname(),
      ServerVersion: POLIS_VERSION,
    };
  }

  version(): VersionInfo {
    return {
      Version: POLIS_VERSION,
      ApiVersion: API_VERSION,
      Os: "linux",
      Arch: Deno.build.arch,
      KernelVersion: Deno.osRelease(),
      DenoVersion: Deno.version.deno,
    };
  }

  // ---- internals ---------------------------------------------------------

  #get(id: string): ContainerRecord {
    const r = this.records.get(id);
    if (!r) throw PolisError.notFound(`No such container: ${id}`);
    return r;
  }

  #freeName(): string {
    for (let i = 0; i < 20; i++) {
      const n = generateName();
      if (!this.records.nameExists(n)) return n;
    }
    return `polis_${newId().slice(0, 12)}`;
  }

  #imageName(rec: ContainerRecord): string {
    return rec.config.imageRef;
  }

  #containerDir(id: string): string {
    return `${this.opts.root}/containers/${id}`;
  }

  #logPath(id: string): string {
    return `${this.#containerDir(id)}/${id}-json.log`;
  }

  #makeFifos(id: string): string[] {
    const dir = `${this.opts.runDir}/fifos/${id}`;
    Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const paths = [`${dir}/stdout`, `${dir}/stderr`];
    for (const p of paths) {
      removeIfExistsSync(p);
      mkfifo(p, 0o600);
    }
    return paths;
  }

  #mountRootfs(desc: RootfsDescription): string {
    if (desc.kind === "copy") return desc.path;
    if (!isMountPoint(desc.target)) runtime.mountOverlay(desc, desc.target);
    return desc.target;
  }

  /**
   * Unmounts a container's rootfs by its path: the image (which could describe it) may be
   * gone after `rmi -f`, and asking the image store would also re-create its dirs.
   */
  #unmountRootfs(id: string): void {
    const target = `${this.#containerDir(id)}/rootfs`;
    if (isMountPoint(target)) runtime.unmount(target);
  }

  async #runtimeDelete(id: string): Promise<void> {
    try {
      await runtime.deleteContainer(this.#rt, id, {
        force: true,
        discard: (dir) => this.#runTrash.discard(dir),
      });
    } catch (e) {
      if (!(e instanceof PolisError && e.code === "not_found")) throw e;
    }
  }

  #daemonId(): string {
    const row = this.db.prepare("SELECT value FROM meta WHERE key = 'id'").get() as
      | { value: string }
      | undefined;
    if (row) return row.value;
    const id = newId();
    this.db.prepare("INSERT OR IGNORE INTO meta (key, value) VALUES ('id', ?)").run(id);
    return id;
  }

  #notify(id: string): void {
    const set = this.#changes.get(id);
    if (!set) return;
    this.#changes.delete(id);
    for (const f of set) f();
  }

  #changed(id: string): Promise<void> {
    return new Promise((resolve) => {
      const set = this.#changes.get(id) ?? new Set();
      set.add(resolve);
      this.#changes.set(id, set);
      // Fallback so a missed notification never stalls a follower for long.
      setTimeout(resolve, 1000);
    });
  }

  /** Serialises lifecycle operations per container. */
  #locked<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#locks.get(id) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const settled = next.catch(() => {});
    this.#locks.set(id, settled);
    void settled.then(() => {
      if (this.#locks.get(id) === settled) this.#locks.delete(id);
    });
    return next;
  }

  /**
   * After a restart: adopt containers still running, finish those that ended
   * while we were away, and remove leftovers that have no record.
   */
  async #reconcile(): Promise<void> {
    const known = new Set<string>();
    for (const rec of this.records.all()) {
      known.add(rec.id);
      if (rec.state.status === "removing") {
        await this.#removeFiles(rec).catch((e) =>
          logger.warn("finish removal", { id: rec.id, error: String(e) })
        );
        this.records.delete(rec.id);
        continue;
      }
      if (rec.state.status !== "running") {
        // A start interrupted by a crash may have left a runtime state, a mount or a veth.
        await this.#runtimeDelete(rec.id).catch(() => {});
        await this.networks.teardown(rec);
        this.#unmountRootfs(rec.id);
        continue;
      }
      let alive = false;
      try {
        const st = runtime.containerState(this.#rt, rec.id);
        alive = st.status === "running" && st.pid === rec.state.pid;
      } catch {
        alive = false;
      }
      if (alive) {
        this.#adopt(rec);
        await this.networks.restore(rec).catch((e) =>
          logger.warn("restore published ports", { id: rec.id, error: String(e) })
        );
      } else {
        // Ended while the daemon was away: record it and clean up.
        const writer = new LogWriter(this.#logPath(rec.id));
        this.#live.set(rec.id, {
          pid: rec.state.pid,
          writer,
          pumps: Promise.resolve(),
          fifos: [
            `${this.opts.runDir}/fifos/${rec.id}/stdout`,
            `${this.opts.runDir}/fifos/${rec.id}/stderr`,
          ],
          exited: Promise.resolve(),
          adopted: true,
        });
        await this.#onExit(rec.id, undefined);
      }
    }
    this.#removeOrphans(known);
  }

  #adopt(rec: ContainerRecord): void {
    const id = rec.id;
    const fifos = [
      `${this.opts.runDir}/fifos/${id}/stdout`,
      `${this.opts.runDir}/fifos/${id}/stderr`,
    ];
    const writer = new LogWriter(this.#logPath(id));
    writer.onAppend(() => this.#notify(id));
    const pumps = Promise.all([
      pumpFifo(this.#fifoPoller, fifos[0], "stdout", writer),
      pumpFifo(this.#fifoPoller, fifos[1], "stderr", writer),
    ]).then(() => {}, (e) => logger.warn("log pump failed", { id, error: String(e) }));
    const live: Live = {
      pid: rec.state.pid,
      writer,
      pumps,
      fifos,
      exited: Promise.resolve(),
      adopted: true,
    };
    live.exited = this.#reaper.watch(rec.state.pid).then(
      (s) => {
        // If the container died before our FIFO open, unblock the stuck reader.
        for (const f of fifos) releaseFifoReader(f);
        return this.#onExit(id, s.known ? s.exitCode : undefined);
      },
      (e) => this.#onExit(id, undefined, String(e)),
    );
    this.#live.set(id, live);
    logger.info("adopted running container", { id, pid: rec.state.pid });
  }

  #removeOrphans(known: Set<string>): void {
    for (const dir of [`${this.opts.root}/containers`, `${this.opts.runDir}/fifos`]) {
      let entries: Deno.DirEntry[] = [];
      try {
        entries = [...Deno.readDirSync(dir)];
      } catch {
        continue;
      }
      for (const e of entries) {
        if (known.has(e.name) || !/^[0-9a-f]{64}$/.test(e.name)) continue;
        try {
          const target = `${dir}/${e.name}/rootfs`;
          if (existsSync(target) && isMountPoint(target)) runtime.unmount(target);
          this.images.removeRootfs(e.name);
          removeIfExistsSync(`${dir}/${e.name}`, true);
        } catch (err) {
          logger.warn("remove orphan", { id: e.name, error: String(err) });
        }
      }
    }
  }
}

function mapStartError(err: unknown): PolisError {
  const e = err instanceof PolisError ? err : PolisError.internal(String(err), err);
  const msg = e.message;
  let exitCode: number | undefined;
  if (/executable file not found|no such file or directory/i.test(msg)) exitCode = 127;
  else if (/permission denied|exec format error/i.test(msg)) exitCode = 126;
  if (exitCode === undefined) return e;
  return new PolisError(e.code === "internal" ? "invalid_argument" : e.code, msg, {
    cause: e,
    details: { ...(e.details ?? {}), exitCode },
  });
}

function matchFilters(
  rec: ContainerRecord,
  filters: Record<string, string[]>,
  imageName: (r: ContainerRecord) => string,
): boolean {
  for (const [key, values] of Object.entries(filters)) {
    if (!values.length) continue;
    const ok = values.some((v) => {
      switch (key) {
        case "id":
          return rec.id.startsWith(v);
        case "name":
          return rec.name.includes(v.replace(/^\//, ""));
        case "status":
          return rec.state.status === v;
        case "label": {
          const [k, val] = v.split("=", 2);
          const labels = rec.config.spec.labels ?? {};
          return val === undefined ? k in labels : labels[k] === val;
        }
        case "ancestor":
          return imageName(rec) === v || rec.imageId === v || rec.imageId.startsWith(`sha256:${v}`);
        case "exited":
          return rec.state.status === "exited" && String(rec.state.exitCode) === v;
        default:
          throw PolisError.invalid(`invalid filter "${key}"`);
      }
    });
    if (!ok) return false;
  }
  return true;
}

function shellJoin(args: string[]): string {
  return args.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : JSON.stringify(a))).join(" ");
}

function safe<T>(fn: () => T, fallback: T): T {
  try {
    return fn();
  } catch {
    return fallback;
  }
}

function osName(): string {
  const text = Deno.readTextFileSync("/etc/os-release");
  const m = /^PRETTY_NAME="?([^"\n]*)"?/m.exec(text);
  return m ? m[1] : "Linux";
}

export type { ImageRecord };
