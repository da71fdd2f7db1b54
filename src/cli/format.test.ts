import { deepStrictEqual as assertEquals, throws } from "node:assert/strict";
import {
  binarySize,
  displayNames,
  ellipsis,
  formatListing,
  formatTable,
  humanDuration,
  labelsText,
  renderTemplate,
  shortId,
  splitRepoTag,
  statusText,
  timeAgo,
} from "./format.ts";
import { parseDuration, parseTimeArg } from "./time.ts";

Deno.test("humanDuration words durations as docker does", () => {
  const cases: [number, string][] = [
    [0, "Less than a second"],
    [0.9, "Less than a second"],
    [1, "1 second"],
    [1.5, "1 second"],
    [5, "5 seconds"],
    [59, "59 seconds"],
    [60, "About a minute"],
    [119, "About a minute"],
    [120, "2 minutes"],
    [59 * 60, "59 minutes"],
    [3600, "About an hour"],
    [2 * 3600, "2 hours"],
    [47 * 3600, "47 hours"],
    [48 * 3600, "2 days"],
    [13 * 86400, "13 days"],
    [14 * 86400, "2 weeks"],
    [59 * 86400, "8 weeks"],
    [60 * 86400, "2 months"],
    [729 * 86400, "24 months"],
    [730 * 86400, "2 years"],
  ];
  for (const [s, want] of cases) assertEquals(humanDuration(s), want, String(s));
});

Deno.test("timeAgo and statusText give docker's CREATED and STATUS wording", () => {
  const now = Date.parse("2024-05-01T12:00:00Z");
  assertEquals(timeAgo(now - 5000, now), "5 seconds ago");
  assertEquals(timeAgo(now + 5000, now), "Less than a second ago");
  const base = {
    ExitCode: 0,
    StartedAt: "2024-05-01T11:57:00Z",
    FinishedAt: "2024-05-01T11:58:00Z",
  };
  const cases: [string, number, string][] = [
    ["running", 0, "Up 3 minutes"],
    ["paused", 0, "Up 3 minutes (Paused)"],
    ["exited", 0, "Exited (0) 2 minutes ago"],
    ["exited", 137, "Exited (137) 2 minutes ago"],
    ["restarting", 1, "Restarting (1) 2 minutes ago"],
    ["created", 0, "Created"],
    ["removing", 0, "Removal In Progress"],
    ["dead", 0, "Dead"],
  ];
  for (const [status, code, want] of cases) {
    assertEquals(statusText({ ...base, Status: status, ExitCode: code }, now), want);
  }
});

Deno.test("formatTable pads every column but the last by three spaces past the widest cell", () => {
  assertEquals(
    formatTable(["CONTAINER ID", "NAMES"], [["abc", "web"], ["0123456789abcd", "db"]]),
    "CONTAINER ID     NAMES\n" +
      "abc              web\n" +
      "0123456789abcd   db\n",
  );
  assertEquals(formatTable(["A", "B"], []), "A   B\n");
});

Deno.test("formatListing prints ids once (-q), json lines, template lines or a table", () => {
  const rows = [{ ID: "a1", Name: "web" }, { ID: "b2", Name: "db" }, { ID: "a1", Name: "web2" }];
  const o = { headers: ["ID", "NAME"], cells: (r: { ID: string; Name: string }) => [r.ID, r.Name] };
  assertEquals(formatListing(rows, { ...o, quiet: true, format: "json" }), "a1\nb2\n");
  assertEquals(
    formatListing(rows.slice(0, 1), { ...o, format: "json" }),
    '{"ID":"a1","Name":"web"}\n',
  );
  assertEquals(formatListing(rows, { ...o, format: "{{.Name}}" }), "web\ndb\nweb2\n");
  const table = "ID   NAME\na1   web\nb2   db\na1   web2\n";
  assertEquals(formatListing(rows, o), table);
  assertEquals(formatListing(rows, { ...o, format: "table" }), table);
  assertEquals(formatListing([], o), "ID   NAME\n");
});

Deno.test("binarySize shows four significant digits in binary units", () => {
  const cases: [number, string][] = [
    [512, "512B"],
    [1024, "1KiB"],
    [8 * 1024 ** 3, "8GiB"],
    [8_346_542_080, "7.773GiB"],
    [25.3e9, "23.56GiB"],
  ];
  for (const [n, want] of cases) assertEquals(binarySize(n), want, String(n));
});

Deno.test("small text helpers shorten ids, commands, names and references", () => {
  assertEquals(ellipsis("sleep 1000", 20), "sleep 1000");
  assertEquals(ellipsis("/docker-entrypoint.sh nginx", 20), "/docker-entrypoint.…");
  assertEquals(shortId("sha256:" + "ab".repeat(32)), "abababababab");
  assertEquals(shortId("0123456789abcdef"), "0123456789ab");
  assertEquals(displayNames(["/web", "/alias"]), "web,alias");
  assertEquals(labelsText({ a: "1", b: "2" }), "a=1,b=2");
  const refs: [string, [string, string]][] = [
    ["busybox:latest", ["busybox", "latest"]],
    ["reg.local:5000/team/app:1.0", ["reg.local:5000/team/app", "1.0"]],
    ["reg.local:5000/team/app", ["reg.local:5000/team/app", "<none>"]],
    ["app@sha256:abc", ["app", "<none>"]],
  ];
  for (const [ref, want] of refs) assertEquals(splitRepoTag(ref), want, ref);
});

Deno.test("renderTemplate fills fields, dotted paths and json, and rejects the rest", () => {
  const v = { ID: "abc", State: { Pid: 42, Running: true }, Names: ["a", "b"], Labels: { k: "v" } };
  assertEquals(renderTemplate("{{.ID}} {{ .State.Pid }}", v), "abc 42");
  assertEquals(renderTemplate("{{.State.Running}}|{{.Names}}", v), "true|[a b]");
  assertEquals(renderTemplate("{{json .Labels}}", v), '{"k":"v"}');
  assertEquals(renderTemplate("{{json .}}", { a: 1 }), '{"a":1}');
  throws(() => renderTemplate("{{.Nope}}", v), /can't evaluate field Nope/);
  throws(() => renderTemplate("{{range .Names}}", v), /unsupported action/);
});

Deno.test("parseTimeArg reads RFC 3339, unix seconds and durations before now", () => {
  const now = Date.parse("2024-05-01T12:00:00Z");
  const cases: [string, number][] = [
    ["1714564800", 1714564800],
    ["1714564800.5", 1714564800.5],
    ["2024-05-01T11:00:00Z", now / 1000 - 3600],
    ["2024-05-01T13:00:00+02:00", now / 1000 - 3600],
    ["2024-05-01T11:59:59.250Z", now / 1000 - 0.75],
    ["10m", now / 1000 - 600],
    ["1h30m", now / 1000 - 5400],
    ["1.5h", now / 1000 - 5400],
    ["500ms", now / 1000 - 0.5],
  ];
  for (const [input, want] of cases) assertEquals(parseTimeArg(input, now), want, input);
  for (const bad of ["yesterday", "10x", "", "2024-13-45T00:00:00Z", "1h-5m"]) {
    throws(() => parseTimeArg(bad, now), /^Error: invalid time/, bad);
  }
  assertEquals(parseDuration("2h"), 7_200_000);
  assertEquals(parseDuration("h"), undefined);
});
