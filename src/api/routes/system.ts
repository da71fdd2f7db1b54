/**
 * System routes: ping, version, info.
 * @module
 */

import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import type { EngineApi } from "../../engine/types.ts";
import { SystemInfoSchema, VersionInfoSchema } from "../schemas.ts";
import { errors, json } from "./common.ts";

const tags = ["system"];

const ping = createRoute({
  method: "get",
  path: "/v1/_ping",
  tags,
  summary: "Liveness: answers OK",
  responses: {
    200: { description: "OK", content: { "text/plain": { schema: z.literal("OK") } } },
  },
});

const version = createRoute({
  method: "get",
  path: "/v1/version",
  tags,
  summary: "Daemon version",
  responses: { 200: json(VersionInfoSchema, "Versions"), ...errors() },
});

const info = createRoute({
  method: "get",
  path: "/v1/info",
  tags,
  summary: "System-wide information",
  responses: { 200: json(SystemInfoSchema, "Information"), ...errors() },
});

export function systemRoutes(app: OpenAPIHono, engine: EngineApi): void {
  app.openapi(ping, (c) => c.text("OK", 200));
  app.openapi(version, (c) => c.json(engine.version(), 200));
  app.openapi(info, (c) => c.json(engine.info(), 200));
}
