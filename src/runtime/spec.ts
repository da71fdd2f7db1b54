/**
 * The OCI runtime-spec config.json fields this runtime supports, as a zod schema, and bundle
 * loading. Unknown fields are ignored (as the spec requires); known fields we cannot honour
 * are refused by `plan.ts` with a clear reason. Errors name the JSON path of the fault:
 * `invalid bundle config.json: process.args: must be a non-empty array`.
 * @module
 */

import { z } from "zod";
import { PolisError } from "../core/mod.ts";
import { capabilityNumber, RLIMITS } from "../../ffi/mod.ts";

const uint32 = z.number({ error: "must be a non-negative integer" }).int({
  error: "must be a non-negative integer",
}).min(0, { error: "must be a non-negative integer" }).max(0xffffffff, {
  error: "must fit in 32 bits",
});
/**
 * 64-bit integers in JSON: zod's int() stops at 2^53, but specs write 2^64-1 for "unlimited";
 * values past 2^53 lose precision, and they all mean unlimited in practice.
 */
const uint64 = z.number({ error: "must be a non-negative integer" }).refine(
  (n) => Number.isInteger(n) && n >= 0,
  { error: "must be a non-negative integer" },
);
const int64 = z.number({ error: "must be an integer" }).refine(Number.isInteger, {
  error: "must be an integer",
});
const absPath = z.string({ error: "must be a string" }).startsWith("/", {
  error: "must be an absolute path",
});
const stringList = z.array(z.string({ error: "must be a string" }), {
  error: "must be an array of strings",
});

const capName = z.string({ error: "must be a string" }).refine(
  (s) => capabilityNumber(s) !== undefined,
  { error: (iss) => `unknown capability ${JSON.stringify(iss.input)}` },
);
const capList = z.array(capName, { error: "must be an array of capability names" });

export const NAMESPACE_TYPES = [
  "pid",
  "network",
  "mount",
  "ipc",
  "uts",
  "user",
  "cgroup",
  "time",
] as const;

export const PROPAGATIONS = [
  "shared",
  "slave",
  "private",
  "unbindable",
  "rshared",
  "rslave",
  "rprivate",
  "runbindable",
] as const;

const MountSchema = z.object({
  destination: z.string({ error: "must be a string (the path inside the container)" }).min(1, {
    error: "must not be empty",
  }),
  type: z.string({ error: "must be a string" }).optional(),
  source: z.string({ error: "must be a string" }).optional(),
  options: stringList.optional(),
});

const IdMapping = z.object({ containerID: uint32, hostID: uint32, size: uint32 });

const DeviceSchema = z.object({
  type: z.enum(["c", "b", "u", "p"], { error: 'must be one of "c", "b", "u", "p"' }),
  path: absPath,
  major: int64.optional(),
  minor: int64.optional(),
  fileMode: uint32.optional(),
  uid: uint32.optional(),
  gid: uint32.optional(),
});

const DeviceRuleSchema = z.object({
  allow: z.boolean({ error: "must be a boolean" }),
  type: z.enum(["a", "b", "c"], { error: 'must be one of "a", "b", "c"' }).optional(),
  major: int64.nullable().optional(),
  minor: int64.nullable().optional(),
  access: z.string().regex(/^[rwm]*$/, { error: 'must be made of "r", "w", "m"' }).optional(),
});

const ResourcesSchema = z.object({
  memory: z.object({
    limit: int64.optional(),
    swap: int64.optional(),
    reservation: int64.optional(),
  }).optional(),
  cpu: z.object({
    shares: uint64.optional(),
    quota: int64.optional(),
    period: uint64.optional(),
    cpus: z.string().optional(),
    mems: z.string().optional(),
  }).optional(),
  pids: z.object({ limit: int64 }).optional(),
  devices: z.array(DeviceRuleSchema).optional(),
});

const RlimitSchema = z.object({
  type: z.string({ error: "must be a string" }).refine((t) => t in RLIMITS, {
    error: (iss) => `unknown rlimit ${JSON.stringify(iss.input)}`,
  }),
  soft: uint64,
  hard: uint64,
}).refine((r) => r.soft <= r.hard, { error: "soft limit must not exceed the hard limit" });

const ProcessSchema = z.object({
  terminal: z.boolean({ error: "must be a boolean" }).optional(),
  user: z.object({
    uid: uint32,
    gid: uint32,
    umask: uint32.optional(),
    additionalGids: z.array(uint32, { error: "must be an array of gids" }).optional(),
  }, { error: "must be an object with uid and gid" }),
  args: z.array(z.string({ error: "must be a string" }), { error: "must be a non-empty array" })
    .min(1, { error: "must be a non-empty array" }),
  env: z.array(
    z.string({ error: "must be a string" }).regex(/^[^=]+=/, {
      error: 'must have the form "KEY=value"',
    }),
    { error: "must be an array of strings" },
  ).optional(),
  cwd: absPath,
  capabilities: z.object({
    bounding: capList.optional(),
    effective: capList.optional(),
    inheritable: capList.optional(),
    permitted: capList.optional(),
    ambient: capList.optional(),
  }).optional(),
  rlimits: z.array(RlimitSchema, { error: "must be an array" }).optional(),
  noNewPrivileges: z.boolean({ error: "must be a boolean" }).optional(),
  oomScoreAdj: z.number().int().min(-1000, { error: "must be between -1000 and 1000" }).max(
    1000,
    { error: "must be between -1000 and 1000" },
  ).optional(),
  apparmorProfile: z.string().optional(),
  selinuxLabel: z.string().optional(),
}, { error: "is required (an object)" });

export const SpecSchema = z.object({
  ociVersion: z.string({ error: "is required (a string such as 1.2.0)" }).regex(/^1\.\d+/, {
    error: "must be a 1.x version",
  }),
  process: ProcessSchema,
  root: z.object({
    path: z.string({ error: "must be a string" }).min(1, { error: "must not be empty" }),
    readonly: z.boolean({ error: "must be a boolean" }).optional(),
  }, { error: "is required (an object with path)" }),
  hostname: z.string({ error: "must be a string" }).max(64, {
    error: "must be at most 64 characters",
  }).optional(),
  domainname: z.string().optional(),
  mounts: z.array(MountSchema, { error: "must be an array" }).optional(),
  linux: z.object({
    namespaces: z.array(
      z.object({
        type: z.enum(NAMESPACE_TYPES, {
          error: `must be one of ${NAMESPACE_TYPES.join(", ")}`,
        }),
        path: absPath.optional(),
      }),
      { error: "must be an array" },
    ).optional(),
    uidMappings: z.array(IdMapping).optional(),
    gidMappings: z.array(IdMapping).optional(),
    resources: ResourcesSchema.optional(),
    cgroupsPath: z.string({ error: "must be a string" }).optional(),
    rootfsPropagation: z.enum(PROPAGATIONS, {
      error: `must be one of ${PROPAGATIONS.join(", ")}`,
    }).optional(),
    maskedPaths: z.array(absPath, { error: "must be an array of absolute paths" }).optional(),
    readonlyPaths: z.array(absPath, { error: "must be an array of absolute paths" }).optional(),
    sysctl: z.record(z.string(), z.string({ error: "must be a string" })).optional(),
    devices: z.array(DeviceSchema).optional(),
    seccomp: z.unknown().optional(),
    mountLabel: z.string().optional(),
  }).optional(),
  annotations: z.record(z.string(), z.string({ error: "must be a string" })).optional(),
});

export type Spec = z.infer<typeof SpecSchema>;
export type SpecMount = z.infer<typeof MountSchema>;
export type SpecDevice = z.infer<typeof DeviceSchema>;

/** `process.args`, `mounts[2].destination`: the JSON path of a zod issue. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const k of path) {
    if (typeof k === "number") out += `[${k}]`;
    else out += out === "" ? String(k) : `.${String(k)}`;
  }
  return out || "(root)";
}

function issueMessage(iss: z.core.$ZodIssue): string {
  switch (iss.code) {
    case "invalid_type":
      return iss.input === undefined ? "is required" : `must be ${article(iss.expected)}`;
    case "unrecognized_keys":
      return `unknown keys ${iss.keys.join(", ")}`;
    default:
      return iss.message;
  }
}

function article(t: string): string {
  return /^[aeiou]/.test(t) ? `an ${t}` : `a ${t}`;
}

/** Validates a parsed config.json; throws invalid_argument naming the first fault's path. */
export function parseSpec(raw: unknown, source = "config.json"): Spec {
  const r = SpecSchema.safeParse(raw, {
    error: (
      iss,
    ) => (iss.code === "invalid_type" ? issueMessage(iss as z.core.$ZodIssue) : undefined),
  });
  if (r.success) return r.data;
  const iss = r.error.issues[0];
  const msg = iss.message || issueMessage(iss);
  const more = r.error.issues.length > 1 ? ` (and ${r.error.issues.length - 1} more)` : "";
  throw PolisError.invalid(`invalid bundle ${source}: ${formatPath(iss.path)}: ${msg}${more}`);
}

/** Reads and validates `<bundle>/config.json`. */
export function loadSpec(bundle: string): Spec {
  const path = `${bundle}/config.json`;
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw PolisError.invalid(`invalid bundle ${bundle}: config.json not found`);
    }
    throw PolisError.invalid(`invalid bundle ${bundle}: cannot read config.json: ${e}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw PolisError.invalid(
      `invalid bundle config.json: not valid JSON: ${e instanceof Error ? e.message : e}`,
    );
  }
  return parseSpec(raw);
}
