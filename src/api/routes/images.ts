/**
 * Image routes: list, load (an uploaded archive or a server-side path), remove, tag,
 * inspect. References travel URL-encoded in the path.
 * @module
 */

import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import type { EngineApi, PullImageOptions, PullProgress } from "../../engine/types.ts";
import { PolisError } from "../../core/mod.ts";
import {
  DiskUsageSchema,
  ForceQuery,
  ImageInspectSchema,
  ImagePruneQuery,
  ImagePruneResponse,
  ImageSummarySchema,
  LoadBody,
  LoadResponse,
  RefParam,
  RemoveImageResponse,
  TagBody,
} from "../schemas.ts";
import { ndjsonStream } from "../streams.ts";
import { errors, json, streamed } from "./common.ts";

const tags = ["images"];
const Archive = z.string().openapi({ format: "binary" });

const list = createRoute({
  method: "get",
  path: "/v1/images",
  tags,
  summary: "List images",
  responses: { 200: json(z.array(ImageSummarySchema), "Images"), ...errors() },
});

const load = createRoute({
  method: "post",
  path: "/v1/images/load",
  tags,
  summary: "Load images from a docker-save archive or OCI layout",
  description: "Send the archive itself as the body (application/x-tar or " +
    "application/octet-stream), or JSON naming a file or directory on the daemon's host.",
  request: {
    body: {
      content: {
        "application/json": { schema: LoadBody },
        "application/x-tar": { schema: Archive },
        "application/octet-stream": { schema: Archive },
      },
    },
  },
  responses: { 200: json(LoadResponse, "The references loaded"), ...errors(400, 409) },
});

const PullBody = z.object({
  reference: z.string().min(1).openapi({ example: "127.0.0.1:5000/busybox:latest" }),
  platform: z.string().min(1).optional().openapi({ example: "linux/arm64/v8" }),
  auth: z.object({ username: z.string(), password: z.string() }).optional(),
}).openapi("PullRequest");

const PullMessage = z.object({
  id: z.string().optional(),
  status: z.string(),
  current: z.number().optional(),
  total: z.number().optional(),
  image: z.string().optional(),
  reference: z.string().optional(),
  digest: z.string().optional(),
}).openapi("PullMessage");

const pull = createRoute({
  method: "post",
  path: "/v1/images/pull",
  tags,
  summary: "Pull an image from a registry, streaming progress as NDJSON",
  description: "One PullMessage per line ({id, status, current, total}); the last is " +
    '{"status":"done","image","reference","digest"}. A failure after the stream began ' +
    "is sent as a final Error line.",
  request: { body: { required: true, content: { "application/json": { schema: PullBody } } } },
  responses: {
    200: {
      description: "Progress, then the result",
      content: { "application/x-ndjson": { schema: PullMessage } },
    },
    ...errors(400, 404),
  },
});

/** The engine's pull progress as an async iterator, ending with the result. */
function pullMessages(
  engine: EngineApi,
  ref: string,
  opts: PullImageOptions,
): AsyncGenerator<PullProgress | Record<string, unknown>> {
  return progressMessages((onProgress) => engine.pullImage(ref, opts, onProgress));
}

/** Progress callbacks of an engine call as an async iterator, ending with its result. */
async function* progressMessages<R extends object>(
  start: (onProgress: (p: PullProgress) => void) => Promise<R>,
): AsyncGenerator<PullProgress | Record<string, unknown>> {
  const queue: (PullProgress | Record<string, unknown>)[] = [];
  let wake: (() => void) | undefined;
  let done = false;
  let failure: { err: unknown } | undefined;
  const notify = () => {
    wake?.();
    wake = undefined;
  };
  void start((p) => {
    queue.push(p);
    notify();
  }).then(
    (r) => queue.push({ status: "done", ...r }),
    (err) => (failure = { err }),
  ).finally(() => {
    done = true;
    notify();
  });
  while (true) {
    const next = queue.shift();
    if (next) {
      yield next;
      continue;
    }
    if (done) {
      if (failure) throw failure.err;
      return;
    }
    await new Promise<void>((r) => (wake = r));
  }
}

const remove = createRoute({
  method: "delete",
  path: "/v1/images/{ref}",
  tags,
  summary: "Untag an image, and delete it when no tag is left",
  request: { params: RefParam, query: ForceQuery },
  responses: {
    200: json(RemoveImageResponse, "What was untagged and deleted"),
    ...errors(404, 409),
  },
});

const tag = createRoute({
  method: "post",
  path: "/v1/images/{ref}/tag",
  tags,
  summary: "Add a reference to an image",
  request: {
    params: RefParam,
    body: { required: true, content: { "application/json": { schema: TagBody } } },
  },
  responses: { 201: { description: "Tagged" }, ...errors(400, 404) },
});

const inspect = createRoute({
  method: "get",
  path: "/v1/images/{ref}",
  tags,
  summary: "Inspect an image",
  request: { params: RefParam },
  responses: { 200: json(ImageInspectSchema, "The image"), ...errors(404) },
});

const prune = createRoute({
  method: "post",
  path: "/v1/images/prune",
  tags,
  summary: "Delete images no container uses: untagged ones, or every one with all=1",
  request: { query: ImagePruneQuery },
  responses: { 200: json(ImagePruneResponse, "What was deleted"), ...errors() },
});

const PushBody = z.object({
  auth: z.object({ username: z.string(), password: z.string() }).optional(),
}).openapi("PushRequest");

const PushMessage = z.object({
  id: z.string().optional(),
  status: z.string(),
  current: z.number().optional(),
  total: z.number().optional(),
  reference: z.string().optional(),
  digest: z.string().optional(),
  size: z.number().optional(),
}).openapi("PushMessage");

const push = createRoute({
  method: "post",
  path: "/v1/images/{ref}/push",
  tags,
  summary: "Push an image to the registry its reference names",
  description: "Blobs the repository lacks are mounted from the repository the image came " +
    "from or uploaded (HEAD first), then the manifest. The body is newline-delimited JSON: " +
    'docker\'s progress messages, then `{"status":"done","reference","digest","size"}`; a ' +
    "failure after the first message comes as an error object.",
  request: {
    params: RefParam,
    body: { required: false, content: { "application/json": { schema: PushBody } } },
  },
  responses: {
    200: {
      description: "Progress, then the result",
      content: { "application/x-ndjson": { schema: PushMessage } },
    },
    ...errors(400, 404),
  },
});

const SaveQuery = z.object({
  names: z.string().min(1).openapi({
    description: "Comma-separated image references",
    example: "busybox:latest,alpine:3",
  }),
  format: z.enum(["docker-archive", "oci"]).optional(),
});

const save = createRoute({
  method: "get",
  path: "/v1/images/get",
  tags,
  summary: "Save images as one tar: docker-archive (default) or OCI layout",
  request: { query: SaveQuery },
  responses: {
    200: { description: "The archive", content: { "application/x-tar": { schema: Archive } } },
    ...errors(400, 404),
  },
});

const df = createRoute({
  method: "get",
  path: "/v1/system/df",
  tags: ["system"],
  summary: "Disk usage of images and containers (volumes and build cache: not supported)",
  responses: { 200: json(DiskUsageSchema, "One row per kind"), ...errors() },
});

export function imageRoutes(app: OpenAPIHono, engine: EngineApi): void {
  app.openapi(list, (c) => c.json(engine.listImages(), 200));

  app.openapi(load, async (c) => {
    const type = c.req.header("content-type") ?? "";
    if (/^application\/json\b/i.test(type)) {
      // Validated against LoadBody: the other media types carry no JSON.
      const { path } = c.req.valid("json") as z.output<typeof LoadBody>;
      return c.json(await engine.loadImages(path), 200);
    }
    const body = c.req.raw.body;
    if (!body) throw PolisError.invalid("invalid request: body: the image archive is empty");
    return c.json(await engine.loadImages(body), 200);
  });

  app.openapi(pull, async (c) => {
    const { reference, platform, auth } = c.req.valid("json");
    const body = await ndjsonStream(pullMessages(engine, reference, { platform, auth }));
    return streamed(
      new Response(body, { status: 200, headers: { "content-type": "application/x-ndjson" } }),
    );
  });

  app.openapi(remove, async (c) => {
    const { ref } = c.req.valid("param");
    return c.json(await engine.removeImage(ref, { force: c.req.valid("query").force }), 200);
  });

  app.openapi(tag, (c) => {
    engine.tagImage(c.req.valid("param").ref, c.req.valid("json").target);
    return c.body(null, 201);
  });

  app.openapi(prune, async (c) => {
    return c.json(await engine.pruneImages({ all: c.req.valid("query").all }), 200);
  });

  app.openapi(push, async (c) => {
    const { ref } = c.req.valid("param");
    const hasJson = /^application\/json\b/i.test(c.req.header("content-type") ?? "");
    const auth = hasJson ? c.req.valid("json").auth : undefined;
    const body = await ndjsonStream(
      progressMessages(async (onProgress) => {
        const { progress: _, ...r } = await engine.pushImage(ref, { auth }, onProgress);
        return r;
      }),
    );
    return streamed(
      new Response(body, { status: 200, headers: { "content-type": "application/x-ndjson" } }),
    );
  });

  app.openapi(save, (c) => {
    const { names, format } = c.req.valid("query");
    const refs = names.split(",").map((s) => s.trim()).filter((s) => s !== "");
    const body = engine.saveImages(refs, format);
    return streamed(
      new Response(body, { status: 200, headers: { "content-type": "application/x-tar" } }),
    );
  });

  app.openapi(df, (c) => c.json(engine.diskUsage(), 200));

  app.openapi(inspect, (c) => c.json(engine.inspectImage(c.req.valid("param").ref), 200));
}
