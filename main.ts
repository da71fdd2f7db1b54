/**
 * The `polis` executable: CLI, daemon and the internal helper modes in one.
 * Each mode imports only what it needs, so helper processes start fast.
 * @module
 */

async function main(args: string[]): Promise<number> {
  switch (args[0]) {
    // The helper modes load only what they run (no zod, no cgroup drivers): each
    // container start pays for their start-up twice.
    case "_setup": {
      const m = await import("./src/runtime/modes.ts");
      return await m.runSetupHelper(args.slice(1));
    }
    case "_init": {
      const m = await import("./src/runtime/modes.ts");
      return m.runInit(args.slice(1));
    }
    case "oci": {
      const rt = await import("./src/runtime/mod.ts");
      return await rt.runOciCli(args.slice(1));
    }
    case "daemon": {
      const d = await import("./src/daemon/mod.ts");
      return await d.runDaemon(args.slice(1));
    }
    default: {
      const cli = await import("./src/cli/mod.ts");
      return await cli.runCli(args);
    }
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
