import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { PolisError } from "../core/mod.ts";
import {
  assertCanDelete,
  assertCanKill,
  assertCanStart,
  deriveStatus,
  parseProcStat,
  type ProcessProbe,
  type Status,
  type StoredState,
} from "./state.ts";

function probe(alive: Record<number, number>): ProcessProbe {
  return { startTime: (pid) => alive[pid] ?? null };
}

const base: StoredState = {
  ociVersion: "1.2.0",
  id: "c1",
  pid: 100,
  bundle: "/b",
  rootfs: "/b/rootfs",
  created: "2024-01-01T00:00:00.000Z",
  startTime: 555,
  cgroupsPath: "polis/c1",
  started: false,
};

Deno.test("a live init with its exec FIFO present is created", () => {
  assertEquals(deriveStatus(base, true, probe({ 100: 555 })), "created");
});

Deno.test("a live process without the FIFO, or marked started, is running", () => {
  assertEquals(deriveStatus(base, false, probe({ 100: 555 })), "running");
  assertEquals(deriveStatus({ ...base, started: true }, true, probe({ 100: 555 })), "running");
});

Deno.test("a dead pid, or a pid reused by another process, is stopped", () => {
  assertEquals(deriveStatus(base, true, probe({})), "stopped");
  assertEquals(deriveStatus(base, false, probe({ 100: 999 })), "stopped");
});

Deno.test("a create in progress is creating while its creator lives, stopped after", () => {
  const st = { ...base, pid: 0, creator: { pid: 7, startTime: 1 } };
  assertEquals(deriveStatus(st, true, probe({ 7: 1 })), "creating");
  assertEquals(deriveStatus(st, true, probe({})), "stopped");
});

function refused(fn: () => void): boolean {
  try {
    fn();
    return false;
  } catch (e) {
    assert(e instanceof PolisError && e.code === "failed_precondition");
    return true;
  }
}

Deno.test("the state machine allows start only from created", () => {
  const all: Status[] = ["creating", "created", "running", "stopped"];
  assertEquals(all.filter((s) => !refused(() => assertCanStart("c", s))), ["created"]);
});

Deno.test("kill is allowed for created and running containers only", () => {
  const all: Status[] = ["creating", "created", "running", "stopped"];
  assertEquals(all.filter((s) => !refused(() => assertCanKill("c", s))), ["created", "running"]);
});

Deno.test("delete refuses a running container unless forced", () => {
  assert(refused(() => assertCanDelete("c", "running", false)));
  assert(refused(() => assertCanDelete("c", "creating", false)));
  assert(!refused(() => assertCanDelete("c", "running", true)));
  assert(!refused(() => assertCanDelete("c", "stopped", false)));
  assert(!refused(() => assertCanDelete("c", "created", false)));
});

Deno.test("/proc/<pid>/stat parsing survives spaces and parentheses in the command name", () => {
  const fields = Array.from({ length: 50 }, (_, i) => String(i + 3));
  fields[0] = "S";
  fields[19] = "123456";
  const text = `42 (a) b (c)) ${fields.join(" ")}`;
  assertEquals(parseProcStat(text), { state: "S", startTime: 123456 });
});
