/**
 * One error type for the whole engine. Components throw `PolisError` with a
 * category; only the API layer turns the category into an HTTP status.
 * @module
 */

export type ErrorCode =
  | "not_found"
  | "conflict"
  | "invalid_argument"
  | "failed_precondition"
  | "unavailable"
  | "internal";

export class PolisError extends Error {
  readonly code: ErrorCode;
  /** Failures met while undoing a partial operation, kept rather than swallowed. */
  readonly cleanupErrors: unknown[] = [];
  /**
   * Machine-readable extras for clients, e.g. `{ exitCode: 127 }` when a start failed
   * because the executable is missing (the CLI exits with docker's 126/127 from it).
   */
  readonly details?: Record<string, unknown>;

  constructor(
    code: ErrorCode,
    message: string,
    options?: { cause?: unknown; details?: Record<string, unknown> },
  ) {
    super(message, options);
    this.name = "PolisError";
    this.code = code;
    this.details = options?.details;
  }

  static notFound(message: string): PolisError {
    return new PolisError("not_found", message);
  }
  static conflict(message: string): PolisError {
    return new PolisError("conflict", message);
  }
  static invalid(message: string): PolisError {
    return new PolisError("invalid_argument", message);
  }
  static precondition(message: string): PolisError {
    return new PolisError("failed_precondition", message);
  }
  static internal(message: string, cause?: unknown): PolisError {
    return new PolisError("internal", message, { cause });
  }
}

/** Wraps anything thrown into a PolisError, keeping PolisErrors as they are. */
export function toPolisError(err: unknown): PolisError {
  if (err instanceof PolisError) return err;
  if (err instanceof Deno.errors.NotFound) {
    return new PolisError("not_found", err.message, { cause: err });
  }
  const message = err instanceof Error ? err.message : String(err);
  return new PolisError("internal", message, { cause: err });
}

/** Records a cleanup failure on the original error instead of losing either. */
export function attachCleanupError(original: unknown, cleanupErr: unknown): void {
  if (original instanceof PolisError) original.cleanupErrors.push(cleanupErr);
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
