/**
 * The `polis` executable: CLI, daemon and the internal helper modes in one. This is the
 * entry `deno compile` and `deno bundle` build from: its literal imports let them find every
 * mode. Run from source, polis.ts is the faster entry (see there).
 * @module
 */

import { dispatch } from "./src/dispatch.ts";

if (import.meta.main) {
  Deno.exit(
    await dispatch(Deno.args, {
      helpers: () => import("./src/runtime/modes.ts"),
      oci: () => import("./src/runtime/mod.ts"),
      daemon: () => import("./src/daemon/mod.ts"),
      cli: () => import("./src/cli/mod.ts"),
    }),
  );
}
