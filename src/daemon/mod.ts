/**
 * `polis daemon`: the composition root. Opens the engine on its root, serves the
 * API on the socket, and stays out of its containers' way: they keep running
 * when the daemon stops or is killed (a restarted daemon adopts them).
 * @module
 */

import { errorMessage, logger, PolisError } from "../core/mod.ts";
import { Engine, POLIS_VERSION } from "../engine/mod.ts";
import { createApp, serveApi } from "../api/mod.ts";
import { becomeSubreaper } from "../runtime/mod.ts";
import { DAEMON_USAGE, parseDaemonArgs } from "./options.ts";

export { DAEMON_V8_FLAGS, type DaemonOptions, parseDaemonArgs } from "./options.ts";

export async function runDaemon(args: string[]): Promise<number> {
  let opts;
  try {
    opts = parseDaemonArgs(args, (k) => Deno.env.get(k));
  } catch (e) {
    console.error(`polis daemon: ${errorMessage(e)}`);
    return 125;
  }
  if (opts === "help") {
    console.log(DAEMON_USAGE);
    return 0;
  }
  if (Deno.uid() !== 0) {
    console.error("polis daemon: must run as root");
    return 1;
  }
  Deno.mkdirSync(opts.root, { recursive: true, mode: 0o711 });
  Deno.mkdirSync(opts.runDir, { recursive: true, mode: 0o711 });

  // One daemon per root: a second one would corrupt the other's view.
  const lock = Deno.openSync(`${opts.root}/daemon.lock`, { write: true, create: true });
  try {
    lock.lockSync(true);
  } catch {
    console.error(`polis daemon: another daemon uses ${opts.root}`);
    return 1;
  }

  // Containers become our children when their setup helper exits, so we can reap them.
  becomeSubreaper();
  let engine: Engine;
  try {
    engine = await Engine.open({
      root: opts.root,
      runDir: opts.runDir,
      cgroupParent: opts.cgroupParent,
      offline: opts.offline,
      registry: { mirrors: opts.registryMirrors, insecure: opts.insecureRegistries },
      network: {
        defaultNetwork: opts.defaultNetwork,
        defaultBridge: opts.bridge,
        defaultSubnet: opts.bridgeSubnet,
        firewallBackend: opts.firewallBackend,
      },
      overlay: opts.storageDriver === "auto" ? undefined : opts.storageDriver === "overlay",
    });
  } catch (e) {
    console.error(`polis daemon: ${errorMessage(e)}`);
    return 1;
  }
  const app = createApp(engine, { version: POLIS_VERSION });
  const server = serveApi(app, { socket: opts.socket, tcp: opts.tcp });
  logger.info("polis daemon listening", { socket: opts.socket, root: opts.root, pid: Deno.pid });

  const { promise: stopped, resolve: stop } = Promise.withResolvers<string>();
  for (const sig of ["SIGINT", "SIGTERM"] as const) Deno.addSignalListener(sig, () => stop(sig));
  const sig = await stopped;
  logger.info("polis daemon stopping; containers keep running", { signal: sig });
  await server.close();
  await engine.close();
  lock.close();
  return 0;
}

export function daemonUsageError(e: unknown): number {
  console.error(`polis daemon: ${e instanceof PolisError ? e.message : errorMessage(e)}`);
  return 1;
}
