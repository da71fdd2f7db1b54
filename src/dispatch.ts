/**
 * The modes of the `polis` program and what each runs, given how to load its module. Two
 * entries supply the loaders: main.ts with literal imports (what `deno compile` and
 * `deno bundle` follow to find the whole program) and polis.ts with computed ones (what
 * `deno run` does not follow, so each mode builds only its own module graph).
 * @module
 */

type Run = (args: string[]) => number | Promise<number>;

/** The mode modules, as far as dispatch needs them. */
export interface ModeLoaders {
  /** `_setup` and `_init`: the runtime's helper processes (src/runtime/modes.ts). */
  helpers(): Promise<{ runSetupHelper: Run; runInit: Run }>;
  /** `oci` (src/runtime/mod.ts). */
  oci(): Promise<{ runOciCli: Run }>;
  /** `daemon` (src/daemon/mod.ts). */
  daemon(): Promise<{ runDaemon: Run }>;
  /** Everything else (src/cli/mod.ts). */
  cli(): Promise<{ runCli: Run }>;
}

/** Runs the mode `args[0]` names; returns the exit code. */
export async function dispatch(args: string[], load: ModeLoaders): Promise<number> {
  switch (args[0]) {
    // The helper modes load only what they run (no zod, no cgroup drivers): each
    // container start pays for their start-up.
    case "_setup":
      return await (await load.helpers()).runSetupHelper(args.slice(1));
    case "_init":
      return await (await load.helpers()).runInit(args.slice(1));
    case "oci":
      return await (await load.oci()).runOciCli(args.slice(1));
    case "daemon":
      return await (await load.daemon()).runDaemon(args.slice(1));
    default:
      return await (await load.cli()).runCli(args);
  }
}
