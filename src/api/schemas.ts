/**
 * The zod schemas of the HTTP API: request validation and the OpenAPI document come from
 * the same definitions. Response schemas mirror the engine's docker-shaped views in
 * `src/engine/types.ts`.
 * @module
 */

import { z } from "@hono/zod-openapi";
import { parseCpus, parseMemory } from "../core/mod.ts";

/** Converts a thrown parser error into a zod issue so every 400 has the same shape. */
function parsed<I, T>(fn: (v: I) => T) {
  return (value: I, ctx: z.RefinementCtx): T => {
    try {
      return fn(value);
    } catch (err) {
      ctx.addIssue({ code: "custom", message: err instanceof Error ? err.message : String(err) });
      return z.NEVER;
    }
  };
}

/** Query booleans as docker sends them: 1/0, true/false (also yes/no, on/off). */
export const BoolQuery = z.stringbool().optional();

/** A non-negative whole number in a query string (timeouts, tail). */
const UintQuery = z.coerce.number().int().min(0);

/** Unix seconds (fractional allowed) in a query string. */
const UnixTimeQuery = z.coerce.number().min(0);

export const IdParam = z.object({
  id: z.string().min(1).openapi({
    param: { name: "id", in: "path" },
    description: "Container id, unique id prefix or name",
    example: "web",
  }),
});

export const RefParam = z.object({
  ref: z.string().min(1).openapi({
    param: { name: "ref", in: "path" },
    description: "Image reference or id, URL-encoded (slashes and colons as %2F and %3A)",
    example: "busybox%3Alatest",
  }),
});

/** Bytes as a number, or docker's size syntax ("32m") parsed by core's `parseMemory`. */
const MemoryInput = z.union([z.number(), z.string()])
  .transform(parsed((v) => parseMemory(String(v))))
  .openapi({ description: 'Memory limit: bytes, or a docker size string such as "32m"' });

/** CPUs as a number or string ("0.5"), converted to nano-CPUs by core's `parseCpus`. */
const CpusInput = z.union([z.number(), z.string()])
  .transform(parsed((v) => parseCpus(String(v))))
  .openapi({ description: 'CPU limit as a number of CPUs, such as 0.5 or "2"' });

/** A firewall rule: allow or deny traffic by direction, peer CIDR, protocol and port. */
export const FirewallRuleBody = z.strictObject({
  direction: z.enum(["ingress", "egress"]),
  action: z.enum(["allow", "deny"]),
  cidr: z.string().regex(
    /^((\d{1,3}\.){3}\d{1,3}(\/\d{1,2})?|[0-9a-fA-F:.]*:[0-9a-fA-F:.]*(\/\d{1,3})?)$/,
    "expected an IPv4 or IPv6 address or CIDR",
  ).optional(),
  port: z.number().int().min(1).max(65535).optional(),
  protocol: z.enum(["tcp", "udp", "icmp", "all"]).optional(),
}).openapi("FirewallRule");

/** The body of `POST /v1/containers`: docker run's options, camelCase. */
export const ContainerCreateBody = z.strictObject({
  name: z.string().min(1).optional(),
  image: z.string().min(1),
  cmd: z.array(z.string()).optional(),
  entrypoint: z.array(z.string()).optional(),
  env: z.array(z.string().regex(/^[^=]+(=.*)?$/, "expected K=V")).optional(),
  workingDir: z.string().optional(),
  user: z.string().optional(),
  hostname: z.string().optional(),
  labels: z.record(z.string(), z.string()).optional(),
  memory: MemoryInput.optional(),
  cpus: CpusInput.optional(),
  nanoCpus: z.number().int().positive().optional(),
  pidsLimit: z.number().int().optional(),
  autoRemove: z.boolean().optional(),
  networkMode: z.string().min(1).optional().openapi({
    description: '"none" (default: only lo), "host", "bridge" or a network name or id',
  }),
  ip: z.string().regex(/^(\d{1,3}\.){3}\d{1,3}$/, "expected an IPv4 address").optional()
    .openapi({ description: "A fixed IPv4 address on a user-defined network" }),
  ip6: z.string().regex(/^[0-9a-fA-F:.]*:[0-9a-fA-F:.]*$/, "expected an IPv6 address").optional()
    .openapi({ description: "A fixed IPv6 address on a dual-stack user-defined network" }),
  publish: z.array(z.string().min(1)).optional().openapi({
    description: "Published ports: [hostIP:]hostPort:containerPort[/tcp|udp]",
    example: ["127.0.0.1:8080:80"],
  }),
  publishAll: z.boolean().optional().openapi({
    description: "Publish every exposed port of the image to a free host port (-P)",
  }),
  dns: z.array(z.string().min(1)).optional().openapi({ description: "DNS servers (--dns)" }),
  addHosts: z.array(z.string().min(1)).optional().openapi({
    description: "Extra /etc/hosts entries, HOST:IP (--add-host)",
    example: ["db:10.0.0.5"],
  }),
  networkAliases: z.array(z.string().min(1)).optional().openapi({
    description: "Names on the user-defined network's DNS (--network-alias)",
  }),
  firewall: z.array(FirewallRuleBody).optional().openapi({
    description: "The container's firewall rules on its networks (first match wins)",
  }),
}).superRefine((body, ctx) => {
  if (body.cpus !== undefined && body.nanoCpus !== undefined) {
    ctx.addIssue({ code: "custom", path: ["cpus"], message: "give either cpus or nanoCpus" });
  }
}).openapi("ContainerCreateRequest");

/** What a client may send to create a container (sizes as numbers or docker strings). */
export type ContainerCreateRequest = z.input<typeof ContainerCreateBody>;

/** docker's filter map, as JSON: `{"status":["running"]}` or `{"status":{"running":true}}`. */
const FiltersQuery = z.string().transform((raw, ctx): Record<string, string[]> => {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    ctx.addIssue({ code: "custom", message: "not valid JSON" });
    return z.NEVER;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    ctx.addIssue({ code: "custom", message: "expected a JSON object of lists" });
    return z.NEVER;
  }
  const out: Record<string, string[]> = {};
  for (const [key, v] of Object.entries(value)) {
    if (Array.isArray(v) && v.every((s) => typeof s === "string")) {
      out[key] = v;
    } else if (typeof v === "object" && v !== null && !Array.isArray(v)) {
      out[key] = Object.entries(v).filter(([, on]) => on === true).map(([s]) => s);
    } else {
      ctx.addIssue({ code: "custom", message: `filter "${key}" must be a list of strings` });
      return z.NEVER;
    }
  }
  return out;
}).openapi({ description: 'JSON map of filters, e.g. {"status":["running"],"label":["k=v"]}' });

export const ListContainersQuery = z.object({
  all: BoolQuery,
  filters: FiltersQuery.optional(),
});

export const StopQuery = z.object({
  t: UintQuery.optional().openapi({ description: "Seconds to wait before SIGKILL" }),
});

export const WaitQuery = z.object({
  condition: z.enum(["next-exit", "removed"]).optional().openapi({
    description: "next-exit (default), or removed: answer once the container is also " +
      "removed (what `run --rm` waits for)",
  }),
});

export const KillQuery = z.object({
  signal: z.string().regex(/^[A-Za-z0-9+]+$/, "expected a signal name or number").optional()
    .openapi({ description: "Signal name or number (default SIGKILL)", example: "SIGTERM" }),
});

export const ForceQuery = z.object({ force: BoolQuery });

export const LogsQuery = z.object({
  follow: BoolQuery,
  tail: z.union([z.literal("all"), UintQuery]).optional()
    .openapi({ description: 'Number of lines from the end, or "all"' }),
  since: UnixTimeQuery.optional().openapi({ description: "Unix seconds (fractional allowed)" }),
  until: UnixTimeQuery.optional().openapi({ description: "Unix seconds (fractional allowed)" }),
  timestamps: BoolQuery.openapi({
    description: "Accepted for docker compatibility; every line carries its time anyway",
  }),
  stdout: BoolQuery,
  stderr: BoolQuery,
});

export const LoadBody = z.strictObject({
  path: z.string().startsWith("/", "must be an absolute path"),
}).openapi("ImageLoadRequest");

export const TagBody = z.strictObject({
  target: z.string().min(1).openapi({ example: "myrepo/app:1.0" }),
}).openapi("ImageTagRequest");

// ---- responses -----------------------------------------------------------------------------

const StringMap = z.record(z.string(), z.string());
const AnyMap = z.record(z.string(), z.unknown());

export const ContainerStatusSchema = z.enum([
  "created",
  "running",
  "paused",
  "restarting",
  "removing",
  "exited",
  "dead",
]);

export const CreateResponse = z.object({ Id: z.string(), Warnings: z.array(z.string()) })
  .openapi("ContainerCreateResponse");

export const ContainerSummarySchema = z.object({
  Id: z.string(),
  Names: z.array(z.string()),
  Image: z.string(),
  ImageID: z.string(),
  Command: z.string(),
  Created: z.number(),
  State: ContainerStatusSchema,
  Status: z.string(),
  Labels: StringMap,
}).openapi("ContainerSummary");

export const ContainerInspectSchema = z.object({
  Id: z.string(),
  Created: z.string(),
  Path: z.string(),
  Args: z.array(z.string()),
  State: z.object({
    Status: ContainerStatusSchema,
    Running: z.boolean(),
    Paused: z.boolean(),
    Restarting: z.boolean(),
    OOMKilled: z.boolean(),
    Dead: z.boolean(),
    Pid: z.number(),
    ExitCode: z.number(),
    Error: z.string(),
    StartedAt: z.string(),
    FinishedAt: z.string(),
  }),
  Image: z.string(),
  Name: z.string(),
  RestartCount: z.number(),
  Driver: z.string(),
  LogPath: z.string(),
  HostConfig: z.object({
    Memory: z.number(),
    NanoCpus: z.number(),
    PidsLimit: z.number().nullable(),
    AutoRemove: z.boolean(),
    NetworkMode: z.string(),
  }),
  Config: z.object({
    Hostname: z.string(),
    User: z.string(),
    Env: z.array(z.string()),
    Cmd: z.array(z.string()).nullable(),
    Entrypoint: z.array(z.string()).nullable(),
    Image: z.string(),
    WorkingDir: z.string(),
    Labels: StringMap,
  }),
  NetworkSettings: z.object({
    Networks: AnyMap,
    Ports: AnyMap,
    IPAddress: z.string(),
    Gateway: z.string().optional(),
    MacAddress: z.string().optional(),
  }),
}).openapi("ContainerInspect");

export const WaitResultSchema = z.object({
  StatusCode: z.number(),
  OOMKilled: z.boolean(),
}).openapi("WaitResult", {
  description: "Sent when the container exits; on failure the body is an error object instead",
});

export const LogEntrySchema = z.object({
  stream: z.enum(["stdout", "stderr"]),
  log: z.string(),
  time: z.string(),
}).openapi("LogEntry", { description: "One line of the NDJSON log stream" });

export const ImageSummarySchema = z.object({
  Id: z.string(),
  RepoTags: z.array(z.string()),
  RepoDigests: z.array(z.string()),
  Created: z.number(),
  Size: z.number(),
}).openapi("ImageSummary");

export const ImageInspectSchema = z.object({
  Id: z.string(),
  RepoTags: z.array(z.string()),
  RepoDigests: z.array(z.string()),
  Created: z.string(),
  Architecture: z.string(),
  Os: z.string(),
  Variant: z.string().optional(),
  Size: z.number(),
  Config: AnyMap,
  RootFS: z.object({ Type: z.literal("layers"), Layers: z.array(z.string()) }),
}).openapi("ImageInspect");

export const LoadResponse = z.object({ loaded: z.array(z.string()) }).openapi("ImageLoadResponse");

export const RemoveImageResponse = z.array(z.object({
  Untagged: z.string().optional(),
  Deleted: z.string().optional(),
})).openapi("ImageRemoveResponse");

export const ImagePruneQuery = z.object({ all: BoolQuery });

export const ImagePruneResponse = z.object({
  ImagesDeleted: RemoveImageResponse,
  SpaceReclaimed: z.number(),
}).openapi("ImagePruneResponse");

export const DiskUsageSchema = z.object({
  Rows: z.array(z.object({
    Type: z.enum(["Images", "Containers", "Local Volumes", "Build Cache"]),
    Total: z.number(),
    Active: z.number(),
    Size: z.number(),
    Reclaimable: z.number(),
    Supported: z.boolean(),
  })),
}).openapi("DiskUsage");

export const SystemInfoSchema = z.object({
  ID: z.string(),
  Containers: z.number(),
  ContainersRunning: z.number(),
  ContainersPaused: z.number(),
  ContainersStopped: z.number(),
  Images: z.number(),
  Driver: z.string(),
  CgroupDriver: z.string(),
  CgroupVersion: z.string(),
  KernelVersion: z.string(),
  OperatingSystem: z.string(),
  OSType: z.string(),
  Architecture: z.string(),
  NCPU: z.number(),
  MemTotal: z.number(),
  DockerRootDir: z.string(),
  Name: z.string(),
  ServerVersion: z.string(),
}).openapi("SystemInfo");

export const VersionInfoSchema = z.object({
  Version: z.string(),
  ApiVersion: z.string(),
  Os: z.string(),
  Arch: z.string(),
  KernelVersion: z.string(),
  DenoVersion: z.string(),
}).openapi("VersionInfo");

export const ErrorSchema = z.object({
  error: z.object({
    code: z.enum([
      "not_found",
      "conflict",
      "invalid_argument",
      "failed_precondition",
      "unavailable",
      "internal",
    ]),
    message: z.string(),
    details: AnyMap.optional(),
  }),
}).openapi("Error");
