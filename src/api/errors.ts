/**
 * The one place where an error category becomes an HTTP status, and the JSON error body
 * every failing route returns: `{ "error": { "code", "message", "details"? } }`.
 *
 * `failed_precondition` maps to 409, as docker answers "container is not running" and
 * similar state conflicts with 409; clients tell it from `conflict` by `error.code`.
 * @module
 */

import type { ZodError } from "zod";
import { HTTPException } from "hono/http-exception";
import { type ErrorCode, PolisError, toPolisError } from "../core/mod.ts";

export const STATUS_BY_CODE = {
  not_found: 404,
  conflict: 409,
  invalid_argument: 400,
  failed_precondition: 409,
  unavailable: 503,
  internal: 500,
} as const satisfies Record<ErrorCode, number>;

export type ErrorStatus = (typeof STATUS_BY_CODE)[ErrorCode];

export interface ErrorBody {
  error: { code: ErrorCode; message: string; details?: Record<string, unknown> };
}

export function errorBody(err: PolisError): ErrorBody {
  const body: ErrorBody = { error: { code: err.code, message: err.message } };
  if (err.details && Object.keys(err.details).length > 0) body.error.details = err.details;
  return body;
}

/** Turns anything thrown by a handler (engine, Hono, bugs) into a status and body. */
export function toErrorResponse(err: unknown): { status: ErrorStatus; body: ErrorBody } {
  if (err instanceof HTTPException) {
    const code: ErrorCode = err.status === 404
      ? "not_found"
      : err.status >= 500
      ? "internal"
      : "invalid_argument";
    const e = new PolisError(code, `invalid request: ${err.message}`);
    return { status: STATUS_BY_CODE[code], body: errorBody(e) };
  }
  const e = toPolisError(err);
  return { status: STATUS_BY_CODE[e.code], body: errorBody(e) };
}

/** Where a failed validation looked, for messages when the issue has no field path. */
const TARGET_NAMES: Record<string, string> = {
  json: "body",
  query: "query",
  param: "path",
  header: "header",
};

/** One line naming each bad field: `invalid request: memory: invalid memory size "x"`. */
export function validationMessage(error: ZodError, target: string): string {
  const parts = error.issues.map((issue) => {
    const where = issue.path.length > 0
      ? issue.path.map(String).join(".")
      : TARGET_NAMES[target] ?? target;
    return `${where}: ${issue.message}`;
  });
  return `invalid request: ${parts.join("; ")}`;
}
