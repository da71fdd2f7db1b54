/**
 * The API component's test support: an in-memory engine behind the real Hono app, for
 * tests of the API and of its clients (the CLI). Apart from mod.ts so the daemon never
 * loads it.
 * @module
 */

export { FakeEngine } from "./fake-engine.ts";
export type { RecordedCall } from "./fake-engine.ts";
