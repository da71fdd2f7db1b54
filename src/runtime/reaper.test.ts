import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { ErrnoError, recordingSyscalls, type WaitStatus } from "../../ffi/mod.ts";
import { Reaper } from "./reaper.ts";

Deno.test("a normal exit resolves with its code, a signal death with 128+signal", async () => {
  const statuses = new Map<number, WaitStatus | null>([[10, null], [11, null]]);
  const sys = recordingSyscalls({ waitpid: (pid) => statuses.get(pid) ?? null });
  const r = new Reaper({ sys, intervalMs: 5, probe: { startTime: () => 1 } });
  try {
    const a = r.watch(10);
    const b = r.watch(11);
    statuses.set(10, { pid: 10, exitCode: 3 });
    statuses.set(11, { pid: 11, signal: 15 });
    assertEquals(await a, { exitCode: 3, known: true });
    assertEquals(await b, { exitCode: 143, signal: "SIGTERM", known: true });
    // Only the watched pids were ever waited for: never -1.
    assertEquals(new Set(sys.named("waitpid").map((c) => c[0])), new Set([10, 11]));
  } finally {
    r.close();
  }
});

Deno.test("a pid that is not our child is polled and reported with an unknown code", async () => {
  let alive = true;
  const sys = recordingSyscalls({
    waitpid: () => {
      throw new ErrnoError("waitpid", 10);
    },
  });
  const r = new Reaper({ sys, intervalMs: 5, probe: { startTime: () => (alive ? 77 : null) } });
  try {
    const p = r.watch(20);
    alive = false;
    assertEquals(await p, { exitCode: 255, known: false });
  } finally {
    r.close();
  }
});

Deno.test("a reused pid (other start time) counts as exited", async () => {
  let start = 77;
  const sys = recordingSyscalls({
    waitpid: () => {
      throw new ErrnoError("waitpid", 10);
    },
  });
  const r = new Reaper({ sys, intervalMs: 5, probe: { startTime: () => start } });
  try {
    const p = r.watch(21, 77);
    start = 99;
    assertEquals((await p).known, false);
  } finally {
    r.close();
  }
});

Deno.test("watching the same pid twice shares one promise", () => {
  const r = new Reaper({
    sys: recordingSyscalls(),
    intervalMs: 1000,
    probe: { startTime: () => 1 },
  });
  try {
    const a = r.watch(5);
    const b = r.watch(5);
    assertEquals(a === b, true);
  } finally {
    r.close();
  }
});
