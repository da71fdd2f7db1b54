/**
 * The helper role on a Worker thread of the daemon (DESIGN.md fact 5): a Worker is an OS
 * thread of its own, so it can enter the container's namespaces and posix_spawn the init
 * from there while the daemon's main thread stays in the host's. The thread is used for one
 * container only: the caller terminates the Worker right after its one reply, because a
 * thread that entered container namespaces must never run anything else.
 *
 * Protocol: on load the worker posts `{ ready: true }`; it then takes one `SpawnRequest` and
 * answers with one `SetupResult`. Everything after the request is synchronous (no pool
 * threads may be created from inside the namespaces).
 * @module
 */

import { failure, type SetupResult } from "./protocol.ts";
import { spawnInit, type SpawnRequest } from "./setup.ts";

/** The parts of the worker's global scope used here (typed without the worker lib). */
const scope = globalThis as unknown as {
  onmessage: ((e: MessageEvent<SpawnRequest>) => void) | null;
  postMessage(msg: SetupResult | { ready: true }): void;
};

let used = false;
scope.onmessage = (e) => {
  let result: SetupResult;
  if (used) {
    result = failure(new Error("a setup worker serves one container only"));
  } else {
    used = true;
    try {
      result = spawnInit(e.data);
    } catch (err) {
      result = failure(err);
    }
  }
  scope.postMessage(result);
};
scope.postMessage({ ready: true });
