import { deepStrictEqual as assertEquals } from "node:assert/strict";
import {
  CLONE_FS,
  CLONE_NEWIPC,
  CLONE_NEWNET,
  CLONE_NEWNS,
  CLONE_NEWPID,
  CLONE_NEWUTS,
  recordingSyscalls,
} from "../../ffi/mod.ts";
import { enterNamespaces } from "./setup.ts";
import type { InitPlan } from "./plan.ts";

function plan(namespaces: InitPlan["namespaces"]): InitPlan {
  return { namespaces } as InitPlan;
}

Deno.test("new namespaces are created in one unshare, without the cgroup one (the init's)", () => {
  const sys = recordingSyscalls();
  enterNamespaces(
    plan([{ type: "pid" }, { type: "mount" }, { type: "uts" }, { type: "ipc" }, {
      type: "cgroup",
    }]),
    sys,
  );
  assertEquals(sys.named("unshare"), [[CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC]]);
});

Deno.test("namespaces given by path are joined first, the mount one last with its own fs", () => {
  let fd = 10;
  const sys = recordingSyscalls({ open: () => fd++ });
  enterNamespaces(
    plan([
      { type: "mount", path: "/proc/9/ns/mnt" },
      { type: "network", path: "/run/netns/n1" },
      { type: "pid" },
    ]),
    sys,
  );
  assertEquals(sys.calls.map((c) => [c.name, ...c.args]), [
    ["open", "/run/netns/n1", 0o2000000],
    ["open", "/proc/9/ns/mnt", 0o2000000],
    ["setns", 10, CLONE_NEWNET, "/run/netns/n1"],
    ["unshare", CLONE_FS],
    ["setns", 11, CLONE_NEWNS, "/proc/9/ns/mnt"],
    ["unshare", CLONE_NEWPID],
  ]);
});
