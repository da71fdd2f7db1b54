/**
 * System routes: ping, version, info, and the registry login check.
 * @module
 */

import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import type { EngineApi } from "../../engine/types.ts";
import { SystemInfoSchema, VersionInfoSchema } from "../schemas.ts";
import { errors, json } from "./common.ts";

const AuthBody = z.object({
  username: z.string().min(1),
  password: z.string(),
  serveraddress: z.string().min(1).optional().openapi({
    description: "Registry host[:port] (default docker.io)",
  }),
}).strict().openapi("AuthRequest");

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

const auth = createRoute({
  method: "post",
  path: "/v1/auth",
  tags,
  summary: "Check credentials against a registry (what `polis login` asks before saving them)",
  request: { body: { required: true, content: { "application/json": { schema: AuthBody } } } },
  responses: {
    200: json(z.object({ Status: z.string() }).openapi("AuthResult"), "Credentials accepted"),
    ...errors(),
  },
});

export function systemRoutes(app: OpenAPIHono, engine: EngineApi): void {
  app.openapi(ping, (c) => c.text("OK", 200));
  app.openapi(version, (c) => c.json(engine.version(), 200));
  app.openapi(info, (c) => c.json(engine.info(), 200));
  app.openapi(auth, async (c) => {
    const b = c.req.valid("json");
    await engine.login(b.serveraddress ?? "docker.io", {
      username: b.username,
      password: b.password,
    });
    return c.json({ Status: "Login Succeeded" }, 200);
  });
}
