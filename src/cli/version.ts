/**
 * The Polis version, from deno.json (embedded by `deno compile` and `deno bundle`).
 * @module
 */

import config from "../../deno.json" with { type: "json" };

export const POLIS_VERSION: string = config.version;
/** The HTTP API generation the client speaks (the /v1 prefix). */
export const API_VERSION = "1";
