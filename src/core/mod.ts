/**
 * Shared foundations: errors, ids, units, logging, self re-exec, file helpers.
 * @module
 */
export * from "./errors.ts";
export * from "./ids.ts";
export * from "./units.ts";
export * from "./log.ts";
export * from "./self.ts";
export * from "./fs.ts";
