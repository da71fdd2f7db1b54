import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { signalName, signalNumber } from "./signals.ts";

Deno.test("signal names parse with or without SIG, in any case, and as numbers", () => {
  const cases: [string | number, number | undefined][] = [
    ["SIGTERM", 15],
    ["TERM", 15],
    ["term", 15],
    ["15", 15],
    [9, 9],
    ["KILL", 9],
    ["SIGRTMIN", 34],
    ["RTMIN+3", 37],
    ["SIGRTMAX-1", 63],
    ["SIGNOPE", undefined],
    ["0", undefined],
    [65, undefined],
    ["RTMAX+1", undefined],
    ["-9", undefined],
  ];
  for (const [input, want] of cases) assertEquals(signalNumber(input), want, String(input));
});

Deno.test("signal numbers render as their canonical names", () => {
  assertEquals(signalName(9), "SIGKILL");
  assertEquals(signalName(6), "SIGABRT");
  assertEquals(signalName(36), "SIGRTMIN+2");
  assertEquals(signalName(64), "SIGRTMAX");
});
