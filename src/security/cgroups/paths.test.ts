import { deepStrictEqual, throws } from "node:assert/strict";
import { PolisError } from "../../core/mod.ts";
import type { Hierarchy } from "./layout.ts";
import { assertNotOwnOrAncestor, isAncestorOrSelf, parseCgroupsPath, resolveIn } from "./paths.ts";

const mem: Hierarchy = {
  version: 1,
  controllers: ["memory"],
  mountPoint: "/sys/fs/cgroup/memory",
  mountRoot: "/",
  ownPath: "/process_api/abc",
};
const pids: Hierarchy = {
  ...mem,
  controllers: ["pids"],
  mountPoint: "/sys/fs/cgroup/pids",
  ownPath: "/",
};
const nested: Hierarchy = { ...mem, mountRoot: "/docker/x", ownPath: "/inner" };

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return e instanceof PolisError ? e.code : "not a PolisError";
  }
  return undefined;
}

Deno.test("parseCgroupsPath accepts plain paths and rejects systemd, root, dot segments", () => {
  deepStrictEqual(parseCgroupsPath("/a/b"), { absolute: true, segments: ["a", "b"] });
  deepStrictEqual(parseCgroupsPath("polis//x/"), { absolute: false, segments: ["polis", "x"] });
  const bad: [string, RegExp][] = [
    ["system.slice:polis:abc", /systemd cgroup driver is not supported/],
    ["/", /root/],
    ["", /empty/],
    ["a/../b", /must not contain ".."/],
    ["./a", /must not contain "."/],
    ["a\nb", /NUL or newline/],
  ];
  for (const [p, re] of bad) {
    throws(() => parseCgroupsPath(p), re, p);
    deepStrictEqual(code(() => parseCgroupsPath(p)), "invalid_argument", p);
  }
});

Deno.test("resolveIn puts relative paths under the caller's cgroup, absolute under the top", () => {
  const cases: [string, Hierarchy, string, string, string[]][] = [
    [
      "polis/c1",
      mem,
      "/process_api/abc/polis/c1",
      "/sys/fs/cgroup/memory/process_api/abc/polis/c1",
      [
        "/sys/fs/cgroup/memory/process_api/abc/polis",
        "/sys/fs/cgroup/memory/process_api/abc/polis/c1",
      ],
    ],
    [
      "polis/c1",
      pids,
      "/polis/c1",
      "/sys/fs/cgroup/pids/polis/c1",
      ["/sys/fs/cgroup/pids/polis", "/sys/fs/cgroup/pids/polis/c1"],
    ],
    ["/polis/c1", mem, "/polis/c1", "/sys/fs/cgroup/memory/polis/c1", [
      "/sys/fs/cgroup/memory/polis",
      "/sys/fs/cgroup/memory/polis/c1",
    ]],
    ["c1", nested, "/docker/x/inner/c1", "/sys/fs/cgroup/memory/inner/c1", [
      "/sys/fs/cgroup/memory/inner/c1",
    ]],
  ];
  for (const [p, h, cgroupPath, dir, chain] of cases) {
    const r = resolveIn(h, parseCgroupsPath(p), p);
    deepStrictEqual([r.cgroupPath, r.dir, r.chain], [cgroupPath, dir, chain], p);
  }
  deepStrictEqual(
    resolveIn(mem, parseCgroupsPath("a"), "a").base,
    "/sys/fs/cgroup/memory/process_api/abc",
  );
});

Deno.test("a relative path cannot resolve where the caller's cgroup is invisible", () => {
  const h = { ...mem, ownPath: null };
  deepStrictEqual(code(() => resolveIn(h, parseCgroupsPath("a"), "a")), "failed_precondition");
  deepStrictEqual(resolveIn(h, parseCgroupsPath("/a"), "/a").dir, "/sys/fs/cgroup/memory/a");
});

Deno.test("the guard refuses the caller's own cgroup and its ancestors only", () => {
  const cases: [string, boolean][] = [
    ["/process_api/abc", true],
    ["/process_api", true],
    ["/process_api/abc/polis", false],
    ["/process_api/abcd", false],
    ["polis", false],
  ];
  for (const [p, refused] of cases) {
    const r = resolveIn(mem, parseCgroupsPath(p), p);
    deepStrictEqual(
      code(() => assertNotOwnOrAncestor(mem, r, p)) === "invalid_argument",
      refused,
      p,
    );
  }
  deepStrictEqual(isAncestorOrSelf("/", "/x"), true);
  deepStrictEqual(isAncestorOrSelf("/a/b", "/a"), false);
});
