/**
 * The low-level runtime: executes an OCI runtime-spec bundle (config.json + rootfs) with
 * namespaces, mounts, pivot_root, cgroups and capabilities, and keeps per-container state.
 * Typed options in, typed state out: it never reads argv, env or stdout (see oci-cli.ts).
 *
 * ```ts
 * // spareSetupWorker: a daemon may keep one setup Worker loaded (faster creates, ~17 MiB)
 * const cfg = { stateRoot: "/run/polis/runtime", spareSetupWorker: true };
 * becomeSubreaper();                 // once, at daemon start
 * const reaper = new Reaper();
 * const st = await createContainer(cfg, { id: "c1", bundle: "/var/lib/polis/b/c1",
 *   stdio: { stdout: "/run/polis/c1.out", stderr: "/run/polis/c1.err" } });
 * const exited = reaper.watch(st.pid!);
 * await startContainer(cfg, "c1");
 * const { exitCode } = await exited;
 * await deleteContainer(cfg, "c1");
 * ```
 * @module
 */

import { setChildSubreaper } from "../../ffi/mod.ts";

export type { OciState, RuntimeConfig, Status } from "./state.ts";
export type { CreateOptions } from "./create.ts";
export type { ExitStatus, ReaperOptions } from "./reaper.ts";
export type { OverlayDescription } from "./overlay.ts";
export type { Spec } from "./spec.ts";
export { createContainer } from "./create.ts";
export { dropSpareWorker } from "./helpers.ts";
export { startContainer } from "./start.ts";
export { killContainer } from "./kill.ts";
export { deleteContainer, type DeleteOptions } from "./delete.ts";
export { containerState, listContainers } from "./list.ts";
export { Reaper, UNKNOWN_EXIT_CODE } from "./reaper.ts";
export { bindMount, mountOverlay, unmount } from "./overlay.ts";
export { parseSignal } from "./signals.ts";
export { loadSpec, parseSpec } from "./spec.ts";
export { runSetupHelper } from "./setup.ts";
export { runInit } from "./init.ts";
export { runOciCli } from "./oci-cli.ts";

/**
 * Makes this process a child subreaper: containers started through a `_setup` helper
 * process (the fallback where the setup Worker cannot load) are re-parented to it when the
 * helper exits, so it can collect their exit statuses (with `Reaper`), as it does for the
 * containers it starts itself.
 */
export function becomeSubreaper(): void {
  setChildSubreaper();
}
