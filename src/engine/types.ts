/**
 * The engine's surface as the API sees it: requests in, docker-shaped views out.
 * The API layer validates input into these types; the engine never sees HTTP.
 * @module
 */

/** A validated container-create request (docker run's options). */
export interface ContainerCreateSpec {
  name?: string;
  image: string;
  /** Overrides the image's Cmd when non-empty (docker: an empty list means "not given"). */
  cmd?: string[];
  /** Overrides the image's Entrypoint; [] or [""] resets it, as `--entrypoint ""`. */
  entrypoint?: string[];
  /** "K=V" entries, added to (and overriding) the image's Env. */
  env?: string[];
  workingDir?: string;
  /** "user", "uid", "user:group" or "uid:gid" */
  user?: string;
  hostname?: string;
  labels?: Record<string, string>;
  /** Memory limit in bytes. */
  memory?: number;
  /** CPU limit in units of 1e-9 CPUs (docker's NanoCpus). */
  nanoCpus?: number;
  pidsLimit?: number;
  /** Remove the container when it exits (`--rm`). */
  autoRemove?: boolean;
  /**
   * "none" (the default for now: only `lo`, up), "host", "bridge" (the default bridge network
   * `polis0`) or the name or id of a network made with `network create`.
   */
  networkMode?: string;
  /** A fixed IPv4 address on a user-defined network (`--ip`). */
  ip?: string;
  /** A fixed IPv6 address on a dual-stack user-defined network (`--ip6`). */
  ip6?: string;
  /** Published ports, as `-p` takes them: `[hostIP:]hostPort:containerPort[/tcp|udp]`. */
  publish?: string[];
  /** Publish every port the image exposes to a free host port (`-P`). */
  publishAll?: boolean;
  /** DNS servers for /etc/resolv.conf (`--dns`), instead of the network's. */
  dns?: string[];
  /** Extra /etc/hosts entries, `HOST:IP` (`--add-host`). */
  addHosts?: string[];
  /** More names of the container on its user-defined network's DNS (`--network-alias`). */
  networkAliases?: string[];
  /** The container's firewall rules, on every network it joins (first match wins). */
  firewall?: FirewallRuleSpec[];
}

/** Allow or deny traffic to (ingress) or from (egress) a container or network. */
export interface FirewallRuleSpec {
  direction: "ingress" | "egress";
  action: "allow" | "deny";
  /** The peer's addresses (default: any). */
  cidr?: string;
  /** Destination port (tcp or udp). */
  port?: number;
  protocol?: "tcp" | "udp" | "icmp" | "all";
}

/** A stored firewall rule of a network (`containerId`: only for that container). */
export interface FirewallRuleView extends FirewallRuleSpec {
  Id: string;
  containerId?: string;
}

export type ContainerStatus =
  | "created"
  | "running"
  | "paused"
  | "restarting"
  | "removing"
  | "exited"
  | "dead";

/** One row of `ps`. */
export interface ContainerSummary {
  Id: string;
  Names: string[];
  Image: string;
  ImageID: string;
  Command: string;
  Created: number;
  State: ContainerStatus;
  Status: string;
  Labels: Record<string, string>;
}

/** `inspect`, in docker's shape (the fields docker users script against). */
export interface ContainerInspect {
  Id: string;
  Created: string;
  Path: string;
  Args: string[];
  State: {
    Status: ContainerStatus;
    Running: boolean;
    Paused: boolean;
    Restarting: boolean;
    OOMKilled: boolean;
    Dead: boolean;
    Pid: number;
    ExitCode: number;
    Error: string;
    StartedAt: string;
    FinishedAt: string;
  };
  Image: string;
  Name: string;
  RestartCount: number;
  Driver: string;
  LogPath: string;
  HostConfig: {
    Memory: number;
    NanoCpus: number;
    PidsLimit: number | null;
    AutoRemove: boolean;
    NetworkMode: string;
  };
  Config: {
    Hostname: string;
    User: string;
    Env: string[];
    Cmd: string[] | null;
    Entrypoint: string[] | null;
    Image: string;
    WorkingDir: string;
    Labels: Record<string, string>;
  };
  NetworkSettings: {
    Networks: Record<string, unknown>;
    Ports: Record<string, unknown>;
    IPAddress: string;
    Gateway?: string;
    MacAddress?: string;
  };
}

export interface ContainerListOptions {
  all?: boolean;
  /** docker-style filters: id, name, status, label (k or k=v), ancestor */
  filters?: Record<string, string[]>;
}

export interface LogOptions {
  follow?: boolean;
  /** Number of lines from the end; undefined = all. */
  tail?: number;
  /** Unix seconds (fractional allowed); only entries at or after. */
  since?: number;
  until?: number;
  stdout?: boolean;
  stderr?: boolean;
}

/** One line of a container's json-file log. */
export interface LogEntry {
  log: string;
  stream: "stdout" | "stderr";
  time: string;
}

/** What a wait waits for: the next exit (default) or the container's removal. */
export type WaitCondition = "next-exit" | "removed";

export interface WaitResult {
  StatusCode: number;
  OOMKilled: boolean;
}

export interface ImageSummary {
  Id: string;
  RepoTags: string[];
  RepoDigests: string[];
  Created: number;
  Size: number;
}

export interface ImageInspect {
  Id: string;
  RepoTags: string[];
  RepoDigests: string[];
  Created: string;
  Architecture: string;
  Os: string;
  Variant?: string;
  Size: number;
  Config: Record<string, unknown>;
  RootFS: { Type: "layers"; Layers: string[] };
}

export interface RemoveImageResult {
  Untagged?: string;
  Deleted?: string;
}

/** One progress message of a pull, shaped like docker's. */
export interface PullProgress {
  id?: string;
  status: string;
  current?: number;
  total?: number;
}

export interface PullImageOptions {
  /** `os/arch[/variant]`; default the daemon host's. */
  platform?: string;
  /** Credentials for the image's registry. */
  auth?: { username: string; password: string };
}

export interface PullImageResult {
  /** The image id (config digest). */
  image: string;
  /** The familiar reference pulled, e.g. "busybox:latest". */
  reference: string;
  /** The manifest (or index) digest the reference resolved to. */
  digest: string;
}

export interface SystemInfo {
  ID: string;
  Containers: number;
  ContainersRunning: number;
  ContainersPaused: number;
  ContainersStopped: number;
  Images: number;
  Driver: string;
  CgroupDriver: string;
  CgroupVersion: string;
  KernelVersion: string;
  OperatingSystem: string;
  OSType: string;
  Architecture: string;
  NCPU: number;
  MemTotal: number;
  DockerRootDir: string;
  Name: string;
  ServerVersion: string;
}

export interface VersionInfo {
  Version: string;
  ApiVersion: string;
  Os: string;
  Arch: string;
  KernelVersion: string;
  DenoVersion: string;
}

export interface PushImageResult {
  reference: string;
  /** The manifest pushed. */
  digest: string;
  size: number;
  /** One per blob, in the order they finished: {id: short digest, status}. */
  progress: { id: string; status: string }[];
}

export interface ImagePruneResult {
  ImagesDeleted: RemoveImageResult[];
  /** Unpacked bytes of the images deleted. */
  SpaceReclaimed: number;
}

/** One line of `system df`. */
export interface DiskUsageRow {
  Type: "Images" | "Containers" | "Local Volumes" | "Build Cache";
  Total: number;
  /** Images some container uses; containers running. */
  Active: number;
  /** Bytes: images unpacked (shared layers once), containers' writable layers. */
  Size: number;
  /** Bytes the inactive ones take. */
  Reclaimable: number;
  /** False for kinds this engine has no notion of (volumes, build cache). */
  Supported: boolean;
}

export interface DiskUsage {
  Rows: DiskUsageRow[];
}

/** What the API needs from the engine. */
export interface EngineApi {
  createContainer(spec: ContainerCreateSpec): Promise<{ Id: string; Warnings: string[] }>;
  startContainer(idOrName: string): Promise<void>;
  /** SIGTERM (or the image's StopSignal), then SIGKILL after `timeout` seconds. */
  stopContainer(idOrName: string, timeout?: number): Promise<void>;
  killContainer(idOrName: string, signal?: string): Promise<void>;
  restartContainer(idOrName: string, timeout?: number): Promise<void>;
  /**
   * Resolves when the container next exits (or at once if it is not running); with
   * "removed", once it is also removed (docker's condition=removed, what `run --rm` waits for),
   * or its auto-removal failed.
   */
  waitContainer(idOrName: string, condition?: WaitCondition): Promise<WaitResult>;
  removeContainer(idOrName: string, opts?: { force?: boolean }): Promise<void>;
  listContainers(opts?: ContainerListOptions): ContainerSummary[];
  inspectContainer(idOrName: string): ContainerInspect;
  /** Log entries; with `follow` the iterator ends when the container stops. */
  containerLogs(idOrName: string, opts: LogOptions): AsyncIterable<LogEntry>;

  listImages(): ImageSummary[];
  /** Loads a docker-save archive or OCI layout (dir or tar) from a path or a byte stream. */
  loadImages(source: string | ReadableStream<Uint8Array>): Promise<{ loaded: string[] }>;
  /** Pulls from a registry; the image is listed only once every layer is in. */
  pullImage(
    ref: string,
    opts?: PullImageOptions,
    onProgress?: (p: PullProgress) => void,
  ): Promise<PullImageResult>;
  removeImage(ref: string, opts?: { force?: boolean }): Promise<RemoveImageResult[]>;
  tagImage(source: string, target: string): void;
  inspectImage(ref: string): ImageInspect;
  /** Deletes images no container uses: untagged ones, or with `all` every unused one. */
  pruneImages(opts?: { all?: boolean }): Promise<ImagePruneResult>;
  /**
   * Pushes an image to the registry its reference names; `onProgress` sees docker's
   * messages (per blob: Preparing, Pushing with current/total, Pushed, Layer already
   * exists, Mounted from REPO).
   */
  pushImage(
    ref: string,
    opts?: { auth?: { username: string; password: string } },
    onProgress?: (p: PullProgress) => void,
  ): Promise<PushImageResult>;
  /**
   * `save`: the images as one tar (docker-archive: an OCI layout plus docker's manifest.json;
   * oci: the layout only). Unknown references fail before any byte is sent.
   */
  saveImages(refs: string[], format?: "docker-archive" | "oci"): ReadableStream<Uint8Array>;
  /**
   * `login`: checks credentials against a registry (its `/v2/` endpoint), as the daemon
   * would use them: its insecure registries, mirrors and offline rule apply.
   */
  login(server: string, auth: { username: string; password: string }): Promise<void>;
  /** `system df`: what images and containers take on disk. */
  diskUsage(): DiskUsage;

  info(): SystemInfo;
  version(): VersionInfo;

  /** Networks (absent in engines without networking, such as test fakes). */
  readonly networks?: NetworkApi;
}

// ---- networks --------------------------------------------------------------------------

/** A validated `network create` request. */
export interface NetworkCreateSpec {
  name: string;
  /** IPv4 CIDR; default: a free /24 from the daemon's pool. */
  subnet?: string;
  /** Default: the first address of the subnet. */
  gateway?: string;
  /** No route out of the network. */
  internal?: boolean;
  labels?: Record<string, string>;
  /** Dual-stack (`--ipv6`): an IPv6 subnet besides the IPv4 one. */
  enableIPv6?: boolean;
  /** IPv6 CIDR; default with `enableIPv6` and no subnet given: a free /64 of the ULA pool. */
  subnet6?: string;
  /** Default: the subnet's ::1. */
  gateway6?: string;
}

/** One container on a network, as `network inspect` shows it. */
export interface NetworkContainer {
  Name: string;
  EndpointID: string;
  MacAddress: string;
  IPv4Address: string;
  IPv6Address: string;
}

/** `network inspect` / `network ls`, in docker's shape. */
export interface NetworkInspect {
  Name: string;
  Id: string;
  Created: string;
  Scope: "local";
  Driver: "bridge" | "host" | "null";
  EnableIPv6: boolean;
  IPAM: { Driver: "default"; Config: { Subnet: string; Gateway: string }[] };
  Internal: boolean;
  Containers: Record<string, NetworkContainer>;
  Options: Record<string, string>;
  Labels: Record<string, string>;
}

/** A container's place on one network (inspect's NetworkSettings.Networks.<name>). */
export interface EndpointSettings {
  NetworkID: string;
  EndpointID: string;
  Gateway: string;
  IPAddress: string;
  IPPrefixLen: number;
  /** The IPv6 address, its prefix length and gateway on a dual-stack network ("" / 0 if not). */
  GlobalIPv6Address: string;
  GlobalIPv6PrefixLen: number;
  IPv6Gateway: string;
  MacAddress: string;
  /** Its names on the network's DNS besides its name (`--network-alias`). */
  Aliases?: string[];
  /** Traffic counters of the container's interface (Polis extension). */
  Stats?: { RxBytes: number; RxPackets: number; TxBytes: number; TxPackets: number };
}

/** What the API needs for networks. */
export interface NetworkApi {
  createNetwork(spec: NetworkCreateSpec): Promise<{ Id: string; Warning: string }>;
  listNetworks(): NetworkInspect[];
  inspectNetwork(idOrName: string): NetworkInspect;
  removeNetwork(idOrName: string): Promise<void>;
  /** Puts a container on a network (at once if it runs, else from its next start). */
  connectNetwork(
    idOrName: string,
    container: string,
    opts?: { ip?: string; ip6?: string; aliases?: string[] },
  ): Promise<void>;
  /** Takes a container off a network; `force` ignores a container that is not on it. */
  disconnectNetwork(idOrName: string, container: string, force?: boolean): Promise<void>;
  /** Removes every user-defined network no container uses; returns their names. */
  pruneNetworks(): Promise<string[]>;
  /** Adds a firewall rule to a network (or to one container on it), enforced at once. */
  addFirewallRule(
    idOrName: string,
    rule: FirewallRuleSpec & { container?: string },
  ): { Id: string };
  listFirewallRules(idOrName: string): FirewallRuleView[];
  deleteFirewallRule(idOrName: string, ruleId: string): void;
}
