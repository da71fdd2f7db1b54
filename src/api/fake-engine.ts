/**
 * An in-memory `EngineApi` for tests of the API and the CLI: it records every call and
 * plays containers whose "program" is their command:
 *
 * - `echo WORDS...` writes WORDS to stdout and exits 0
 * - `fail CODE TEXT...` writes TEXT to stderr and exits CODE
 * - `sleep` runs until stopped or killed
 * - `missing` fails to start with `details.exitCode` 127, as a missing executable does
 *
 * Output is emitted after `startContainer` returns, so followers see it arrive live.
 * @module
 */

import { newId, PolisError } from "../core/mod.ts";
import type {
  ContainerCreateSpec,
  ContainerInspect,
  ContainerListOptions,
  ContainerStatus,
  ContainerSummary,
  DiskUsage,
  EngineApi,
  ImageInspect,
  ImagePruneResult,
  ImageSummary,
  LogEntry,
  LogOptions,
  PullImageOptions,
  PullImageResult,
  PullProgress,
  RemoveImageResult,
  SystemInfo,
  VersionInfo,
  WaitCondition,
  WaitResult,
} from "../engine/types.ts";

export interface RecordedCall {
  method: string;
  args: unknown[];
}

interface FakeContainer {
  id: string;
  name: string;
  spec: ContainerCreateSpec;
  created: Date;
  state: ContainerStatus;
  exitCode: number;
  startedAt?: Date;
  finishedAt?: Date;
  logs: LogEntry[];
  /** Woken on every new log entry and on exit. */
  wakers: Set<() => void>;
  waiters: ((r: WaitResult) => void)[];
  removalWaiters: ((r: WaitResult) => void)[];
}

interface FakeImage {
  id: string;
  tags: string[];
  created: Date;
  size: number;
}

export class FakeEngine implements EngineApi {
  readonly calls: RecordedCall[] = [];
  readonly containers = new Map<string, FakeContainer>();
  readonly images: FakeImage[] = [];
  /** Bytes received by the last `loadImages` given a stream. */
  lastLoadedBytes = 0;
  /** When set, the next engine call throws it (then it is cleared). */
  failNext?: Error;
  /** Set while a follower iterator is open; tests check it drops to 0 after a cancel. */
  openFollowers = 0;

  constructor() {
    this.images.push({
      id: "sha256:" + "b".repeat(64),
      tags: ["busybox:latest"],
      created: new Date(Date.now() - 3 * 86400_000),
      size: 4_261_000,
    });
  }

  private record(method: string, ...args: unknown[]): void {
    this.calls.push({ method, args });
    const err = this.failNext;
    if (err) {
      this.failNext = undefined;
      throw err;
    }
  }

  callsOf(method: string): unknown[][] {
    return this.calls.filter((c) => c.method === method).map((c) => c.args);
  }

  private find(idOrName: string): FakeContainer {
    const bare = idOrName.replace(/^\//, "");
    for (const c of this.containers.values()) {
      if (c.name === bare || c.id === bare) return c;
    }
    const byPrefix = [...this.containers.values()].filter((c) => c.id.startsWith(bare));
    if (byPrefix.length === 1) return byPrefix[0];
    throw PolisError.notFound(`No such container: ${idOrName}`);
  }

  private findImage(ref: string): FakeImage {
    const withTag = ref.includes(":") ? ref : `${ref}:latest`;
    const img = this.images.find((i) =>
      i.tags.includes(withTag) || i.id === ref || i.id.slice(7).startsWith(ref)
    );
    if (!img) throw PolisError.notFound(`No such image: ${ref}`);
    return img;
  }

  private emit(c: FakeContainer, stream: "stdout" | "stderr", text: string): void {
    c.logs.push({ stream, log: text, time: new Date().toISOString() });
    for (const wake of [...c.wakers]) wake();
  }

  private exit(c: FakeContainer, code: number): void {
    if (c.state !== "running") return;
    c.state = "exited";
    c.exitCode = code;
    c.finishedAt = new Date();
    for (const wake of [...c.wakers]) wake();
    for (const w of c.waiters.splice(0)) w({ StatusCode: code, OOMKilled: false });
    if (c.spec.autoRemove) {
      this.containers.delete(c.id);
      for (const w of c.removalWaiters.splice(0)) w({ StatusCode: code, OOMKilled: false });
    }
  }

  createContainer(spec: ContainerCreateSpec): Promise<{ Id: string; Warnings: string[] }> {
    this.record("createContainer", spec);
    this.findImage(spec.image);
    const name = spec.name ?? `fake_${this.containers.size + 1}`;
    if ([...this.containers.values()].some((c) => c.name === name)) {
      return Promise.reject(PolisError.conflict(`container name "/${name}" is already in use`));
    }
    const id = newId();
    this.containers.set(id, {
      id,
      name,
      spec,
      created: new Date(),
      state: "created",
      exitCode: 0,
      logs: [],
      wakers: new Set(),
      waiters: [],
      removalWaiters: [],
    });
    return Promise.resolve({ Id: id, Warnings: [] });
  }

  startContainer(idOrName: string): Promise<void> {
    this.record("startContainer", idOrName);
    const c = this.find(idOrName);
    if (c.state === "running") return Promise.resolve();
    const [prog, ...args] = c.spec.cmd ?? ["sleep"];
    if (prog === "missing") {
      return Promise.reject(
        new PolisError("invalid_argument", `exec: "missing": executable file not found in $PATH`, {
          details: { exitCode: 127 },
        }),
      );
    }
    c.state = "running";
    c.startedAt = new Date();
    setTimeout(() => {
      if (prog === "echo") {
        this.emit(c, "stdout", args.join(" ") + "\n");
        this.exit(c, 0);
      } else if (prog === "fail") {
        this.emit(c, "stderr", args.slice(1).join(" ") + "\n");
        this.exit(c, Number(args[0] ?? 1));
      }
    }, 5);
    return Promise.resolve();
  }

  stopContainer(idOrName: string, timeout?: number): Promise<void> {
    this.record("stopContainer", idOrName, timeout);
    this.exit(this.find(idOrName), 143);
    return Promise.resolve();
  }

  killContainer(idOrName: string, signal?: string): Promise<void> {
    this.record("killContainer", idOrName, signal);
    const c = this.find(idOrName);
    if (c.state !== "running") {
      return Promise.reject(PolisError.precondition(`container ${idOrName} is not running`));
    }
    this.exit(c, 137);
    return Promise.resolve();
  }

  async restartContainer(idOrName: string, timeout?: number): Promise<void> {
    this.record("restartContainer", idOrName, timeout);
    const c = this.find(idOrName);
    this.exit(c, 143);
    c.state = "running";
    c.startedAt = new Date();
    await Promise.resolve();
  }

  waitContainer(idOrName: string, condition?: WaitCondition): Promise<WaitResult> {
    this.record("waitContainer", idOrName, ...(condition ? [condition] : []));
    const c = this.find(idOrName);
    if (condition === "removed") return new Promise((resolve) => c.removalWaiters.push(resolve));
    if (c.state !== "running" && c.state !== "created") {
      return Promise.resolve({ StatusCode: c.exitCode, OOMKilled: false });
    }
    return new Promise((resolve) => c.waiters.push(resolve));
  }

  removeContainer(idOrName: string, opts?: { force?: boolean }): Promise<void> {
    this.record("removeContainer", idOrName, opts);
    const c = this.find(idOrName);
    if (c.state === "running" && !opts?.force) {
      return Promise.reject(
        PolisError.conflict(`cannot remove container ${idOrName}: it is running (use force)`),
      );
    }
    this.exit(c, 137);
    this.containers.delete(c.id);
    for (const w of c.removalWaiters.splice(0)) w({ StatusCode: c.exitCode, OOMKilled: false });
    return Promise.resolve();
  }

  listContainers(opts?: ContainerListOptions): ContainerSummary[] {
    this.record("listContainers", opts);
    return [...this.containers.values()]
      .filter((c) => opts?.all || c.state === "running")
      .filter((c) => (opts?.filters?.name ?? []).every((n) => c.name.includes(n)))
      .filter((c) => (opts?.filters?.status ?? []).every((s) => c.state === s))
      .map((c) => this.summary(c));
  }

  private summary(c: FakeContainer): ContainerSummary {
    return {
      Id: c.id,
      Names: ["/" + c.name],
      Image: c.spec.image,
      ImageID: this.findImage(c.spec.image).id,
      Command: (c.spec.cmd ?? ["sleep"]).join(" "),
      Created: Math.floor(c.created.getTime() / 1000),
      State: c.state,
      Status: c.state === "running"
        ? "Up Less than a second"
        : c.state === "exited"
        ? `Exited (${c.exitCode}) Less than a second ago`
        : "Created",
      Labels: c.spec.labels ?? {},
    };
  }

  inspectContainer(idOrName: string): ContainerInspect {
    this.record("inspectContainer", idOrName);
    const c = this.find(idOrName);
    const zero = "0001-01-01T00:00:00Z";
    return {
      Id: c.id,
      Created: c.created.toISOString(),
      Path: (c.spec.cmd ?? ["sleep"])[0],
      Args: (c.spec.cmd ?? ["sleep"]).slice(1),
      State: {
        Status: c.state,
        Running: c.state === "running",
        Paused: false,
        Restarting: false,
        OOMKilled: false,
        Dead: false,
        Pid: c.state === "running" ? 4242 : 0,
        ExitCode: c.exitCode,
        Error: "",
        StartedAt: c.startedAt?.toISOString() ?? zero,
        FinishedAt: c.finishedAt?.toISOString() ?? zero,
      },
      Image: this.findImage(c.spec.image).id,
      Name: "/" + c.name,
      RestartCount: 0,
      Driver: "overlay",
      LogPath: `/fake/${c.id}.log`,
      HostConfig: {
        Memory: c.spec.memory ?? 0,
        NanoCpus: c.spec.nanoCpus ?? 0,
        PidsLimit: c.spec.pidsLimit ?? null,
        AutoRemove: c.spec.autoRemove ?? false,
        NetworkMode: "none",
      },
      Config: {
        Hostname: c.spec.hostname ?? c.id.slice(0, 12),
        User: c.spec.user ?? "",
        Env: c.spec.env ?? [],
        Cmd: c.spec.cmd ?? null,
        Entrypoint: c.spec.entrypoint ?? null,
        Image: c.spec.image,
        WorkingDir: c.spec.workingDir ?? "",
        Labels: c.spec.labels ?? {},
      },
      NetworkSettings: { Networks: {}, Ports: {}, IPAddress: "" },
    };
  }

  containerLogs(idOrName: string, opts: LogOptions): AsyncIterable<LogEntry> {
    this.record("containerLogs", idOrName, opts);
    const c = this.find(idOrName);
    const wanted = (e: LogEntry) => {
      const t = Date.parse(e.time) / 1000;
      return (opts[e.stream] ?? true) && (opts.since === undefined || t >= opts.since) &&
        (opts.until === undefined || t <= opts.until);
    };
    const backlog = c.logs.filter(wanted);
    let queue = opts.tail === undefined ? backlog : backlog.slice(backlog.length - opts.tail);
    let seen = c.logs.length;
    const follow = opts.follow === true && (c.state === "running" || c.state === "created");
    let wake: (() => void) | undefined;
    let closed = false;
    if (follow) this.openFollowers++;
    const close = () => {
      if (closed) return;
      closed = true;
      if (follow) this.openFollowers--;
      if (wake) c.wakers.delete(wake);
      wake?.();
    };
    // A hand-written iterator, so return() also ends a next() that is waiting for output.
    const iterator: AsyncIterator<LogEntry> = {
      next: async () => {
        while (!closed) {
          if (queue.length > 0) return { done: false, value: queue.shift()! };
          const fresh = c.logs.slice(seen).filter(wanted);
          seen = c.logs.length;
          if (fresh.length > 0) {
            queue = fresh;
            continue;
          }
          if (!follow || (c.state !== "running" && c.state !== "created")) break;
          await new Promise<void>((resolve) => {
            wake = resolve;
            c.wakers.add(resolve);
          });
          if (wake) c.wakers.delete(wake);
        }
        close();
        return { done: true, value: undefined };
      },
      return: () => {
        close();
        return Promise.resolve({ done: true, value: undefined });
      },
    };
    return { [Symbol.asyncIterator]: () => iterator };
  }

  listImages(): ImageSummary[] {
    this.record("listImages");
    return this.images.map((i) => ({
      Id: i.id,
      RepoTags: i.tags,
      RepoDigests: [],
      Created: Math.floor(i.created.getTime() / 1000),
      Size: i.size,
    }));
  }

  async loadImages(source: string | ReadableStream<Uint8Array>): Promise<{ loaded: string[] }> {
    this.record("loadImages", typeof source === "string" ? source : "<stream>");
    if (typeof source !== "string") {
      let n = 0;
      for await (const chunk of source) n += chunk.length;
      this.lastLoadedBytes = n;
      if (n === 0) throw PolisError.invalid("empty image archive");
    }
    const tag = "loaded:latest";
    if (!this.images.some((i) => i.tags.includes(tag))) {
      this.images.push({
        id: "sha256:" + "c".repeat(64),
        tags: [tag],
        created: new Date(),
        size: 1,
      });
    }
    return { loaded: [tag] };
  }

  pullImage(
    ref: string,
    opts?: PullImageOptions,
    onProgress?: (p: PullProgress) => void,
  ): Promise<PullImageResult> {
    this.record("pullImage", ref, opts);
    if (!/^[a-z0-9./:_-]+$/.test(ref)) {
      return Promise.reject(PolisError.invalid(`invalid reference format "${ref}"`));
    }
    if (ref.includes("missing")) {
      return Promise.reject(PolisError.notFound(`manifest for ${ref} not found`));
    }
    onProgress?.({ id: "latest", status: `Pulling from ${ref}` });
    onProgress?.({ id: "0123456789ab", status: "Downloading", current: 1, total: 2 });
    onProgress?.({ id: "0123456789ab", status: "Pull complete" });
    const id = "sha256:" + "d".repeat(64);
    if (!this.images.some((i) => i.id === id)) {
      this.images.push({ id, tags: [ref], created: new Date(), size: 2 });
    }
    return Promise.resolve({ image: id, reference: ref, digest: "sha256:" + "e".repeat(64) });
  }

  removeImage(ref: string, opts?: { force?: boolean }): Promise<RemoveImageResult[]> {
    this.record("removeImage", ref, opts);
    const img = this.findImage(ref);
    const tag = ref.includes(":") ? ref : `${ref}:latest`;
    if (img.tags.length > 1 && img.tags.includes(tag)) {
      img.tags = img.tags.filter((t) => t !== tag);
      return Promise.resolve([{ Untagged: tag }]);
    }
    this.images.splice(this.images.indexOf(img), 1);
    return Promise.resolve([...img.tags.map((t) => ({ Untagged: t })), { Deleted: img.id }]);
  }

  tagImage(source: string, target: string): void {
    this.record("tagImage", source, target);
    const img = this.findImage(source);
    const t = target.includes(":") ? target : `${target}:latest`;
    if (!img.tags.includes(t)) img.tags.push(t);
  }

  pruneImages(opts?: { all?: boolean }): Promise<ImagePruneResult> {
    this.record("pruneImages", opts);
    const gone = this.images.filter((i) => opts?.all || i.tags.length === 0);
    for (const i of gone) this.images.splice(this.images.indexOf(i), 1);
    return Promise.resolve({
      ImagesDeleted: gone.map((i) => ({ Deleted: i.id })),
      SpaceReclaimed: gone.reduce((n, i) => n + i.size, 0),
    });
  }

  pushImage(
    ref: string,
    opts?: { auth?: { username: string; password: string } },
    onProgress?: (p: PullProgress) => void,
  ) {
    this.record("pushImage", ref, opts);
    this.findImage(ref);
    onProgress?.({ id: "0123456789ab", status: "Pushing", current: 1, total: 1 });
    onProgress?.({ id: "0123456789ab", status: "Pushed" });
    return Promise.resolve({
      reference: ref,
      digest: "sha256:" + "f".repeat(64),
      size: 1,
      progress: [{ id: "0123456789ab", status: "Pushed" }],
    });
  }

  saveImages(refs: string[], format?: "docker-archive" | "oci"): ReadableStream<Uint8Array> {
    this.record("saveImages", refs, format);
    for (const r of refs) this.findImage(r);
    return new Blob([new Uint8Array(1024)]).stream();
  }

  /** Accepts the password "secret" only. */
  login(server: string, auth: { username: string; password: string }): Promise<void> {
    this.record("login", server, auth.username);
    if (auth.password !== "secret") {
      return Promise.reject(
        PolisError.invalid(`login to ${server}: unauthorized: incorrect username or password`),
      );
    }
    return Promise.resolve();
  }

  diskUsage(): DiskUsage {
    this.record("diskUsage");
    const size = this.images.reduce((n, i) => n + i.size, 0);
    return {
      Rows: [
        {
          Type: "Images",
          Total: this.images.length,
          Active: 0,
          Size: size,
          Reclaimable: size,
          Supported: true,
        },
      ],
    };
  }

  inspectImage(ref: string): ImageInspect {
    this.record("inspectImage", ref);
    const img = this.findImage(ref);
    return {
      Id: img.id,
      RepoTags: img.tags,
      RepoDigests: [],
      Created: img.created.toISOString(),
      Architecture: "amd64",
      Os: "linux",
      Size: img.size,
      Config: { Cmd: ["sh"] },
      RootFS: { Type: "layers", Layers: ["sha256:" + "d".repeat(64)] },
    };
  }

  info(): SystemInfo {
    this.record("info");
    const all = [...this.containers.values()];
    const running = all.filter((c) => c.state === "running").length;
    return {
      ID: "fake",
      Containers: all.length,
      ContainersRunning: running,
      ContainersPaused: 0,
      ContainersStopped: all.length - running,
      Images: this.images.length,
      Driver: "overlay",
      CgroupDriver: "cgroupfs",
      CgroupVersion: "1",
      KernelVersion: "6.1.0",
      OperatingSystem: "Fake Linux",
      OSType: "linux",
      Architecture: "x86_64",
      NCPU: 4,
      MemTotal: 8 * 1024 ** 3,
      DockerRootDir: "/var/lib/polis",
      Name: "fakehost",
      ServerVersion: "0.0.0-fake",
    };
  }

  version(): VersionInfo {
    this.record("version");
    return {
      Version: "0.0.0-fake",
      ApiVersion: "1",
      Os: "linux",
      Arch: "amd64",
      KernelVersion: "6.1.0",
      DenoVersion: Deno.version.deno,
    };
  }
}
