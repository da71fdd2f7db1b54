/**
 * The `polis` program run from source (`deno task polis`, test daemons, the bench). Same
 * modes as main.ts, but its imports are computed: for main.ts's literal ones `deno run`
 * first builds the module graph of every mode (about 150 files and the npm packages), which
 * every CLI call and container init would pay for; from here each mode builds only its own
 * graph (the CLI: about 70 files). `deno compile` and `deno bundle` use main.ts.
 * @module
 */

import { dispatch } from "./src/dispatch.ts";

const load = (path: string) => import(new URL(path, import.meta.url).href);

if (import.meta.main) {
  Deno.exit(
    await dispatch(Deno.args, {
      helpers: () => load("./src/runtime/modes.ts"),
      oci: () => load("./src/runtime/mod.ts"),
      daemon: () => load("./src/daemon/mod.ts"),
      cli: () => load("./src/cli/mod.ts"),
    }),
  );
}
