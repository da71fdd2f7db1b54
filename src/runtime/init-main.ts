/**
 * Entry of the container's init (`_init <stateDir>`) under `deno run`: it loads the init
 * alone. Started through main.ts, `deno run` first builds the module graph of the whole
 * program (CLI, daemon, API, npm packages) before the init's first line runs, which costs
 * every container start about 10-15 ms. A compiled binary or a bundle has no such graph to
 * build and starts its init through its own main module (see initCommand in setup.ts).
 * @module
 */

import { runInit } from "./init.ts";

const args = Deno.args[0] === "_init" ? Deno.args.slice(1) : Deno.args;
Deno.exit(runInit(args));
