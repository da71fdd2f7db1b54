/**
 * The Polis HTTP API: a Hono app over the engine, served on a unix socket.
 * @module
 */
export { createApp, OPENAPI_PATH } from "./app.ts";
export type { AppOptions } from "./app.ts";
export { assertSocketFree, serveApi } from "./serve.ts";
export type { ApiServer, ServeOptions } from "./serve.ts";
export { STATUS_BY_CODE } from "./errors.ts";
export type { ErrorBody } from "./errors.ts";
export type { ContainerCreateRequest } from "./schemas.ts";
