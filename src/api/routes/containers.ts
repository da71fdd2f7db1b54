/**
 * Container routes: create, lifecycle verbs, wait, remove, list, inspect and logs.
 * @module
 */

import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import type { EngineApi, LogOptions } from "../../engine/types.ts";
import {
  ContainerCreateBody,
  ContainerInspectSchema,
  ContainerSummarySchema,
  CreateResponse,
  ForceQuery,
  IdParam,
  KillQuery,
  ListContainersQuery,
  LogEntrySchema,
  LogsQuery,
  StopQuery,
  WaitQuery,
  WaitResultSchema,
} from "../schemas.ts";
import { deferredJson, ndjsonStream, settledSoon } from "../streams.ts";
import { errors, json, streamed } from "./common.ts";

const tags = ["containers"];
const noContent = { 204: { description: "Done" } };

const create = createRoute({
  method: "post",
  path: "/v1/containers",
  tags,
  summary: "Create a container",
  request: {
    body: { required: true, content: { "application/json": { schema: ContainerCreateBody } } },
  },
  responses: { 201: json(CreateResponse, "Created"), ...errors(400, 404, 409) },
});

function lifecycle(verb: string, summary: string, query?: z.ZodObject) {
  return createRoute({
    method: "post",
    path: `/v1/containers/{id}/${verb}`,
    tags,
    summary,
    request: query ? { params: IdParam, query } : { params: IdParam },
    responses: { ...noContent, ...errors(400, 404, 409) },
  });
}

const start = lifecycle("start", "Start a created or stopped container");
const stop = createRoute({
  ...lifecycle("stop", "Stop: the stop signal, then SIGKILL after t seconds"),
  request: { params: IdParam, query: StopQuery },
});
const restart = createRoute({
  ...lifecycle("restart", "Stop (as stop) and start again"),
  request: { params: IdParam, query: StopQuery },
});
const kill = createRoute({
  ...lifecycle("kill", "Send a signal (default SIGKILL)"),
  request: { params: IdParam, query: KillQuery },
});

const wait = createRoute({
  method: "post",
  path: "/v1/containers/{id}/wait",
  tags,
  summary: "Wait for the container's next exit",
  description: "The wait is registered before the response headers are sent, so a client " +
    "that has received them may start the container without missing its exit. The body " +
    "arrives when the container exits.",
  request: { params: IdParam, query: WaitQuery },
  responses: { 200: json(WaitResultSchema, "The exit status"), ...errors(404) },
});

const remove = createRoute({
  method: "delete",
  path: "/v1/containers/{id}",
  tags,
  summary: "Remove a container (force: kill it first if running)",
  request: { params: IdParam, query: ForceQuery },
  responses: { ...noContent, ...errors(400, 404, 409) },
});

const list = createRoute({
  method: "get",
  path: "/v1/containers",
  tags,
  summary: "List containers (running only unless all)",
  request: { query: ListContainersQuery },
  responses: { 200: json(z.array(ContainerSummarySchema), "Containers"), ...errors(400) },
});

const inspect = createRoute({
  method: "get",
  path: "/v1/containers/{id}",
  tags,
  summary: "Inspect a container",
  request: { params: IdParam },
  responses: { 200: json(ContainerInspectSchema, "The container"), ...errors(404) },
});

const logs = createRoute({
  method: "get",
  path: "/v1/containers/{id}/logs",
  tags,
  summary: "Stream a container's logs as NDJSON",
  description: "One LogEntry per line. With follow the stream stays open until the " +
    "container stops. A failure after the stream began is sent as a final Error line.",
  request: { params: IdParam, query: LogsQuery },
  responses: {
    200: {
      description: "NDJSON stream of LogEntry",
      content: { "application/x-ndjson": { schema: LogEntrySchema } },
    },
    ...errors(400, 404),
  },
});

export function containerRoutes(app: OpenAPIHono, engine: EngineApi): void {
  app.openapi(create, async (c) => {
    const { cpus, ...rest } = c.req.valid("json");
    const spec = { ...rest, ...(cpus !== undefined ? { nanoCpus: cpus } : {}) };
    return c.json(await engine.createContainer(spec), 201);
  });

  app.openapi(start, async (c) => {
    await engine.startContainer(c.req.valid("param").id);
    return c.body(null, 204);
  });

  app.openapi(stop, async (c) => {
    await engine.stopContainer(c.req.valid("param").id, c.req.valid("query").t);
    return c.body(null, 204);
  });

  app.openapi(restart, async (c) => {
    await engine.restartContainer(c.req.valid("param").id, c.req.valid("query").t);
    return c.body(null, 204);
  });

  app.openapi(kill, async (c) => {
    await engine.killContainer(c.req.valid("param").id, c.req.valid("query").signal);
    return c.body(null, 204);
  });

  app.openapi(wait, async (c) => {
    // Registered synchronously, before this handler awaits anything.
    const result = engine.waitContainer(
      c.req.valid("param").id,
      c.req.valid("query").condition,
    );
    // Errors that show at once (unknown container) still get their own status.
    const early = await settledSoon(result);
    if (early !== undefined) return c.json(early, 200);
    return streamed(
      new Response(deferredJson(result), {
        status: 200,
        headers: { "content-type": "application/json" },
      }),
    );
  });

  app.openapi(remove, async (c) => {
    await engine.removeContainer(c.req.valid("param").id, { force: c.req.valid("query").force });
    return c.body(null, 204);
  });

  app.openapi(list, (c) => {
    const { all, filters } = c.req.valid("query");
    return c.json(engine.listContainers({ all, filters }), 200);
  });

  app.openapi(inspect, (c) => c.json(engine.inspectContainer(c.req.valid("param").id), 200));

  app.openapi(logs, async (c) => {
    const q = c.req.valid("query");
    const opts: LogOptions = {
      follow: q.follow,
      tail: q.tail === "all" ? undefined : q.tail,
      since: q.since,
      until: q.until,
      stdout: q.stdout,
      stderr: q.stderr,
    };
    // A client that goes away cancels the body, which closes the engine's iterator.
    const body = await ndjsonStream(engine.containerLogs(c.req.valid("param").id, opts));
    return streamed(
      new Response(body, { status: 200, headers: { "content-type": "application/x-ndjson" } }),
    );
  });
}
