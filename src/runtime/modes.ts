/**
 * The runtime's internal process modes, apart from `mod.ts` so the processes that run them
 * load only what they need: the container's init and the setup helper each start in about
 * 20 ms and 34 MiB this way, against about 70 ms and 48 MiB through `mod.ts` (which pulls in
 * zod and the cgroup drivers). main.ts dispatches `_setup` and `_init` here.
 * @module
 */

export { runInit } from "./init.ts";
export { runSetupHelper } from "./setup.ts";
