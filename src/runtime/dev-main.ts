/**
 * Temporary entry point until main.ts dispatches the runtime's modes:
 *   _init <stateDir> | _setup <stateDir> | oci ...
 * Use with POLIS_SELF="deno run -A --unstable-net <this file>".
 * @module
 */

const [mode, ...rest] = Deno.args;
if (mode === "_init") {
  // Loaded alone: the container's init should start fast and small.
  const { runInit } = await import("./modes.ts");
  Deno.exit(runInit(rest));
} else if (mode === "_setup") {
  const { runSetupHelper } = await import("./modes.ts");
  Deno.exit(await runSetupHelper(rest));
} else if (mode === "oci") {
  const { runOciCli } = await import("./oci-cli.ts");
  Deno.exit(await runOciCli(rest));
} else {
  console.error("usage: dev-main.ts _init|_setup|oci ...");
  Deno.exit(2);
}
