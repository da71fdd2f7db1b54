import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { humanDuration, statusText } from "./humanize.ts";

Deno.test("humanDuration phrases durations as docker does", () => {
  const cases: [number, string][] = [
    [0, "Less than a second"],
    [1, "1 second"],
    [42, "42 seconds"],
    [90, "2 minutes"],
    [60, "About a minute"],
    [3600, "About an hour"],
    [7200, "2 hours"],
    [3 * 86400, "3 days"],
  ];
  for (const [s, want] of cases) assertEquals(humanDuration(s), want);
});

Deno.test("statusText shows Up, Exited (code) and Created", () => {
  const now = Date.parse("2026-01-01T00:10:00Z");
  assertEquals(
    statusText({
      status: "running",
      startedAt: "2026-01-01T00:07:00Z",
      finishedAt: "",
      exitCode: 0,
    }, now),
    "Up 3 minutes",
  );
  assertEquals(
    statusText({
      status: "exited",
      startedAt: "",
      finishedAt: "2026-01-01T00:09:58Z",
      exitCode: 137,
    }, now),
    "Exited (137) 2 seconds ago",
  );
  assertEquals(
    statusText({ status: "created", startedAt: "", finishedAt: "", exitCode: 0 }, now),
    "Created",
  );
});
