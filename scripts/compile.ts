/**
 * `deno task compile`: builds the single `polis` executable with `deno compile`.
 * deno compile needs Deno's runtime binary (denort); it is downloaded from Deno's
 * servers unless DENORT_BIN points at one. Where neither works we say so clearly.
 */

import { DAEMON_V8_FLAGS } from "../src/daemon/options.ts";

const root = new URL("..", import.meta.url).pathname;
const out = `${root}dist/polis`;
const denort = Deno.env.get("DENORT_BIN");
if (denort) {
  try {
    Deno.statSync(denort);
  } catch {
    console.error(`compile: DENORT_BIN=${denort} does not exist`);
    Deno.exit(1);
  }
}
const args = [
  "compile",
  "--quiet",
  "-A",
  "--unstable-net",
  "--no-check",
  `--v8-flags=${DAEMON_V8_FLAGS}`,
  // The runtime starts containers from a Worker module that main.ts never imports.
  "--include",
  "src/runtime/setup-worker.ts",
  "-o",
  out,
  "main.ts",
];
const r = await new Deno.Command(Deno.execPath(), { args, cwd: root, stderr: "piped" }).output();
if (!r.success) {
  const err = new TextDecoder().decode(r.stderr);
  console.error(err.trim());
  if (!denort) {
    console.error(
      "compile: deno compile could not get Deno's runtime binary (denort). This machine cannot " +
        "reach Deno's download server; set DENORT_BIN to a denort binary of Deno 2.9.6 for " +
        `${Deno.build.target}, or use 'deno task bundle' (dist/polis.js) instead.`,
    );
  }
  Deno.exit(1);
}
console.log(`built ${out} (${(Deno.statSync(out).size / 1024 / 1024).toFixed(1)} MiB)`);
