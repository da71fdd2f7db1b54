/**
 * Security data and mechanisms the runtime applies: cgroup drivers (v1, v2, hybrid).
 * @module
 */
export * from "./cgroups/mod.ts";
