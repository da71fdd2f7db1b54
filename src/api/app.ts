/**
 * The Hono application of the Polis API: routes under /v1, zod validation with one-line
 * 400s, engine errors mapped to statuses in one place, and the OpenAPI document generated
 * from the same schemas.
 *
 * @example
 * ```ts
 * const app = createApp(engine, { version: "0.1.0" });
 * const res = await app.request("/v1/_ping"); // "OK"
 * ```
 * @module
 */

import { OpenAPIHono } from "@hono/zod-openapi";
import type { EngineApi } from "../engine/types.ts";
import { toErrorResponse, validationMessage } from "./errors.ts";
import { containerRoutes } from "./routes/containers.ts";
import { imageRoutes } from "./routes/images.ts";
import { networkRoutes } from "./routes/networks.ts";
import { systemRoutes } from "./routes/system.ts";

export interface AppOptions {
  /** The daemon's version: sent in the `Server` header and the OpenAPI document. */
  version: string;
}

export const OPENAPI_PATH = "/v1/openapi.json";

export function createApp(engine: EngineApi, opts: AppOptions): OpenAPIHono {
  const app = new OpenAPIHono({
    defaultHook: (result, c) => {
      if (result.success) return;
      const message = validationMessage(result.error, result.target);
      return c.json({ error: { code: "invalid_argument", message } }, 400);
    },
  });

  app.use(async (c, next) => {
    await next();
    c.header("Server", `polis/${opts.version}`);
  });

  systemRoutes(app, engine);
  containerRoutes(app, engine);
  imageRoutes(app, engine);
  networkRoutes(app, engine);

  app.doc31(OPENAPI_PATH, {
    openapi: "3.1.0",
    info: {
      title: "Polis API",
      version: opts.version,
      description: "Docker-shaped container engine API, served on a unix socket. " +
        'Errors are {"error":{"code","message","details"?}}: not_found 404, conflict 409, ' +
        "invalid_argument 400, failed_precondition 409, unavailable 503, internal 500.",
    },
  });

  app.notFound((c) =>
    c.json({
      error: { code: "not_found", message: `no such route: ${c.req.method} ${c.req.path}` },
    }, 404)
  );

  app.onError((err, c) => {
    const { status, body } = toErrorResponse(err);
    return c.json(body, status);
  });

  return app;
}
