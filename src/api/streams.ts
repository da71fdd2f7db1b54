/**
 * Streaming response bodies: NDJSON from an async iterator (logs) and a single JSON value
 * sent once a promise settles (wait). Both write failures into the body, because by the
 * time they happen the status line has gone.
 * @module
 */

import { toErrorResponse } from "./errors.ts";

const encoder = new TextEncoder();

function line(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value) + "\n");
}

/**
 * One JSON value per line from `iterable`. The iterator is started at once (so a follower
 * is registered before the response goes out), and closed with `return()` when the client
 * goes away (the stream's `cancel()`).
 *
 * A failure of the first step that shows within one macrotask (unknown container) is
 * thrown, so the route can still answer with an error status; a later one becomes a final
 * `{"error":{...}}` line.
 */
export async function ndjsonStream<T>(
  iterable: AsyncIterable<T>,
): Promise<ReadableStream<Uint8Array>> {
  const it = iterable[Symbol.asyncIterator]();
  let first: Promise<IteratorResult<T>> | undefined = it.next();
  // If the client leaves before the first pull, nobody awaits `first`: keep its failure quiet.
  first.catch(() => {});
  await settledSoon(first);
  let finished = false;
  const stop = () => {
    if (finished) return;
    finished = true;
    // Not awaited: an async generator queues return() behind a pending next().
    void Promise.resolve(it.return?.()).catch(() => {});
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const next = first ?? it.next();
        first = undefined;
        const r = await next;
        if (finished) return;
        if (r.done) {
          finished = true;
          controller.close();
        } else {
          controller.enqueue(line(r.value));
        }
      } catch (err) {
        if (finished) return;
        finished = true;
        controller.enqueue(line(toErrorResponse(err).body));
        controller.close();
      }
    },
    cancel() {
      stop();
    },
  }, { highWaterMark: 0 });
}

/** A body that carries one JSON value (or an error object) when `promise` settles. */
export function deferredJson(promise: Promise<unknown>): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    async start(controller) {
      try {
        controller.enqueue(line(await promise));
      } catch (err) {
        controller.enqueue(line(toErrorResponse(err).body));
      }
      controller.close();
    },
  });
}

/** Settles with `promise` if it has settled within one macrotask, else with `undefined`. */
export async function settledSoon<T>(promise: Promise<T>): Promise<T | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const tick = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), 0);
  });
  try {
    return await Promise.race([promise, tick]);
  } finally {
    clearTimeout(timer);
  }
}
