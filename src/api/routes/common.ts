/**
 * Small builders shared by the route tables: JSON response entries and the error
 * responses each route documents.
 * @module
 */

import type { z } from "@hono/zod-openapi";
import { ErrorSchema } from "../schemas.ts";

export function json<T extends z.ZodType>(schema: T, description: string) {
  return { description, content: { "application/json": { schema } } };
}

const ERROR_TEXT = {
  400: "Invalid request (invalid_argument)",
  404: "No such container or image (not_found)",
  409: "Conflict with the current state (conflict, failed_precondition)",
  500: "Internal error (internal)",
  503: "A dependency is unavailable (unavailable)",
} as const;

/** The error responses a route can produce, all with the `Error` body. */
export function errors<const S extends keyof typeof ERROR_TEXT>(...statuses: S[]) {
  const out = {} as Record<S, ReturnType<typeof json<typeof ErrorSchema>>>;
  for (const s of [...statuses, 500 as S]) out[s] = json(ErrorSchema, ERROR_TEXT[s]);
  return out;
}

/**
 * A hand-built streaming Response, passed through the typed-response check: the schema
 * documents what the stream carries, which the type system cannot follow.
 */
export function streamed(res: Response): never {
  return res as never;
}
