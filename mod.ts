/**
 * Polis's public TypeScript API: the client SDK for a running daemon and the
 * types of its requests and answers.
 *
 * ```ts
 * import { PolisClient } from "./mod.ts";
 * const polis = new PolisClient({ socket: "/run/polis/polis.sock" });
 * const { Id } = await polis.createContainer({ image: "busybox", cmd: ["echo", "hi"] });
 * const exit = await polis.registerWait(Id);
 * await polis.startContainer(Id);
 * console.log((await exit.result).StatusCode);
 * ```
 * @module
 */

export { DaemonUnreachableError, DEFAULT_SOCKET, PolisClient } from "./src/cli/client.ts";
export type * from "./src/engine/types.ts";
export type { ContainerCreateRequest } from "./src/api/mod.ts";
export { PolisError } from "./src/core/errors.ts";
export type { ErrorCode } from "./src/core/errors.ts";
