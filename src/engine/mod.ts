/**
 * The high-level engine: containers, images and system info as users see them.
 * @module
 */
export { API_VERSION, Engine, type EngineOptions, POLIS_VERSION } from "./engine.ts";
export * from "./types.ts";
export { buildOciSpec, DEFAULT_CAPABILITIES, DEFAULT_MASKED_PATHS } from "./spec.ts";
