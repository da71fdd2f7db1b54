/**
 * `polis oci` end to end, as root: busybox containers check from the inside what the spec
 * asked for, and the verbs move them through created → running → stopped → deleted.
 */

import {
  deepStrictEqual as assertEquals,
  match as assertMatch,
  ok as assert,
} from "node:assert/strict";
import {
  isRoot,
  makeBundle,
  oci,
  removeTestCgroupParent,
  type TestBundle,
  uniquePrefix,
  waitFor,
} from "./helpers/bundle.ts";
import { openCgroup } from "../src/security/mod.ts";

const skip = !isRoot();
if (skip) console.log("runtime_oci tests skipped: they need root");

const prefix = uniquePrefix("oci");
let counter = 0;

interface Ctx {
  id: string;
  root: string;
  out: string;
  bundle: TestBundle;
  cgroupsPath: string;
}

/** One container's world: a bundle, a state root, an output file; all removed afterwards. */
async function withContainer(
  script: string,
  fn: (c: Ctx) => Promise<void>,
  opts: Parameters<typeof makeBundle>[0] = {},
): Promise<void> {
  const id = `${prefix}-${++counter}`;
  const root = Deno.makeTempDirSync({ prefix: "polis-oci-root-" });
  const cgroupsPath = `${prefix}/${id}`;
  const bundle = makeBundle({ args: ["sh", "-c", script], cgroupsPath, ...opts });
  const out = `${root}/output.txt`;
  try {
    await fn({ id, root, out, bundle, cgroupsPath });
  } finally {
    await oci(root, ["delete", "--force", id]);
    bundle.cleanup();
    Deno.removeSync(root, { recursive: true });
    removeTestCgroupParent(prefix);
  }
}

function status(root: string, id: string): Promise<string> {
  return oci(root, ["state", id]).then((
    r,
  ) => (r.code === 0 ? JSON.parse(r.stdout).status : "none"));
}

async function runToEnd(c: Ctx): Promise<string> {
  const cr = await oci(c.root, ["create", "--bundle", c.bundle.dir, c.id], c.out);
  assertEquals(cr.code, 0, Deno.readTextFileSync(c.out));
  const st = await oci(c.root, ["start", c.id]);
  assertEquals(st.code, 0, st.stderr);
  const deadline = Date.now() + 15_000;
  while ((await status(c.root, c.id)) !== "stopped") {
    if (Date.now() > deadline) throw new Error("container did not stop");
    await new Promise((r) => setTimeout(r, 25));
  }
  return Deno.readTextFileSync(c.out);
}

Deno.test({
  name: "the workload is PID 1, has the spec's hostname and sees only its own processes",
  ignore: skip,
  fn: () =>
    withContainer("echo pid=$$; echo host=$(hostname); ps -o pid,comm | wc -l", async (c) => {
      const out = await runToEnd(c);
      assertMatch(out, /^pid=1$/m);
      assertMatch(out, /^host=box-one$/m);
      // ps header + sh + ps (+ wc in the pipeline): no host processes.
      const lines = Number(out.trim().split("\n").at(-1));
      assert(lines <= 4, out);
    }, { hostname: "box-one" }),
});

Deno.test({
  name: "/proc/keys and /proc/timer_list are masked and /sys is read-only",
  ignore: skip,
  fn: () =>
    withContainer(
      "echo keys=$(wc -c < /proc/keys); echo timers=$(wc -c < /proc/timer_list); " +
        "mkdir /sys/polis-x 2>/dev/null && echo sys=rw || echo sys=ro; " +
        "echo 1 > /proc/sys/kernel/ns_last_pid 2>/dev/null && echo procsys=rw || echo procsys=ro",
      async (c) => {
        const out = await runToEnd(c);
        assertMatch(out, /^keys=0$/m);
        assertMatch(out, /^timers=0$/m);
        assertMatch(out, /^sys=ro$/m);
        assertMatch(out, /^procsys=ro$/m);
      },
    ),
});

Deno.test({
  name: "env, cwd and uid/gid/groups from the spec are applied",
  ignore: skip,
  fn: () =>
    withContainer("echo v=$FOO; pwd; id", async (c) => {
      const out = await runToEnd(c);
      assertMatch(out, /^v=bar baz$/m);
      assertMatch(out, /^\/home\/nobody$/m);
      assertMatch(out, /^uid=65534\(nobody\) gid=65534\(nobody\) groups=1234,65534\(nobody\)$/m);
    }, {
      env: ["PATH=/bin", "FOO=bar baz"],
      cwd: "/home/nobody",
      uid: 65534,
      gid: 65534,
      additionalGids: [65534, 1234],
    }),
});

Deno.test({
  name: "create does not run the workload; start does",
  ignore: skip,
  fn: async () => {
    const shared = Deno.makeTempDirSync({ prefix: "polis-oci-shared-" });
    try {
      await withContainer("touch /shared/marker", async (c) => {
        const cr = await oci(c.root, ["create", "--bundle", c.bundle.dir, c.id], c.out);
        assertEquals(cr.code, 0, Deno.readTextFileSync(c.out));
        assertEquals(await status(c.root, c.id), "created");
        await new Promise((r) => setTimeout(r, 300));
        assert(!existsFile(`${shared}/marker`), "workload ran before start");
        assertEquals((await oci(c.root, ["start", c.id])).code, 0);
        await waitFor(() => existsFile(`${shared}/marker`), 10_000, "the marker");
        // A second start is refused by the state machine.
        await waitFor(() => true);
        const again = await oci(c.root, ["start", c.id]);
        assertEquals(again.code, 1);
        assertMatch(
          again.stderr,
          /cannot start container .*: it is (running|stopped), not created/,
        );
      }, {
        mounts: [{
          destination: "/shared",
          type: "bind",
          source: shared,
          options: ["rbind", "rw"],
        }],
      });
    } finally {
      Deno.removeSync(shared, { recursive: true });
    }
  },
});

function existsFile(p: string): boolean {
  try {
    Deno.statSync(p);
    return true;
  } catch {
    return false;
  }
}

Deno.test({
  name: "kill SIGKILL stops a running container and state reports running then stopped",
  ignore: skip,
  fn: () =>
    withContainer("sleep 60", async (c) => {
      const cr = await oci(c.root, [
        "create",
        "--bundle",
        c.bundle.dir,
        "--pid-file",
        `${c.root}/pid`,
        c.id,
      ], c.out);
      assertEquals(cr.code, 0);
      assertEquals((await oci(c.root, ["start", c.id])).code, 0);
      assertEquals(await status(c.root, c.id), "running");
      const st = JSON.parse((await oci(c.root, ["state", c.id])).stdout);
      assertEquals(Number(Deno.readTextFileSync(`${c.root}/pid`)), st.pid);
      assertEquals(st.ociVersion, "1.2.0");
      assertEquals(st.bundle, c.bundle.dir);
      assertEquals(st.annotations, { "org.polis.test": "1" });
      assert(st.pid > 1);
      assertEquals((await oci(c.root, ["kill", c.id, "KILL"])).code, 0);
      const deadline = Date.now() + 10_000;
      while ((await status(c.root, c.id)) !== "stopped") {
        if (Date.now() > deadline) throw new Error("still running after SIGKILL");
        await new Promise((r) => setTimeout(r, 25));
      }
      const again = await oci(c.root, ["kill", c.id, "TERM"]);
      assertEquals(again.code, 1);
    }),
});

Deno.test({
  name: "SIGTERM reaches a workload that traps it",
  ignore: skip,
  fn: () =>
    withContainer(
      "trap 'echo got-term; exit 3' TERM; echo ready; while :; do sleep 0.05; done",
      async (c) => {
        assertEquals(
          (await oci(c.root, ["create", "--bundle", c.bundle.dir, c.id], c.out)).code,
          0,
        );
        assertEquals((await oci(c.root, ["start", c.id])).code, 0);
        await waitFor(() => Deno.readTextFileSync(c.out).includes("ready"), 10_000, "ready");
        assertEquals((await oci(c.root, ["kill", c.id, "SIGTERM"])).code, 0);
        await waitFor(() => Deno.readTextFileSync(c.out).includes("got-term"), 10_000, "got-term");
      },
    ),
});

Deno.test({
  name: "delete refuses a running container, and with force removes state, cgroup and mounts",
  ignore: skip,
  fn: () =>
    withContainer("sleep 60", async (c) => {
      assertEquals((await oci(c.root, ["create", "--bundle", c.bundle.dir, c.id], c.out)).code, 0);
      const dirs = openCgroup(c.cgroupsPath).procsFiles().map((f) =>
        f.slice(0, f.lastIndexOf("/"))
      );
      assert(dirs.length > 0 && dirs.every(existsFile));
      assertEquals((await oci(c.root, ["start", c.id])).code, 0);
      const refused = await oci(c.root, ["delete", c.id]);
      assertEquals(refused.code, 1);
      assertMatch(refused.stderr, /it is running; stop it first or use force/);
      const del = await oci(c.root, ["delete", "--force", c.id]);
      assertEquals(del.code, 0, del.stderr);
      assert(!existsFile(`${c.root}/${c.id}`), "state dir left behind");
      for (const d of dirs) assert(!existsFile(d), `cgroup ${d} left behind`);
      const mounts = Deno.readTextFileSync("/proc/self/mountinfo");
      assert(!mounts.includes(c.bundle.dir), "a mount of the bundle is left on the host");
      assertEquals((await oci(c.root, ["state", c.id])).code, 1);
    }),
});

Deno.test({
  name: "an invalid bundle is refused with the JSON path and nothing is left behind",
  ignore: skip,
  fn: () =>
    withContainer("true", async (c) => {
      c.bundle.config.process.args = [];
      c.bundle.write();
      const r = await oci(c.root, ["create", "--bundle", c.bundle.dir, c.id]);
      assertEquals(r.code, 1);
      assertMatch(
        r.stderr,
        /invalid bundle config\.json: process\.args: must be a non-empty array/,
      );
      assert(!existsFile(`${c.root}/${c.id}`), "state dir made for an invalid bundle");
      let found = true;
      try {
        openCgroup(c.cgroupsPath);
      } catch {
        found = false;
      }
      assert(!found, "cgroup made for an invalid bundle");
    }),
});

Deno.test({
  name: "a missing executable fails create with docker's message and leaves nothing",
  ignore: skip,
  fn: () =>
    withContainer("true", async (c) => {
      c.bundle.config.process.args = ["no-such-cmd"];
      c.bundle.write();
      const r = await oci(c.root, ["create", "--bundle", c.bundle.dir, c.id]);
      assertEquals(r.code, 1);
      assertMatch(r.stderr, /exec: "no-such-cmd": executable file not found in \$PATH/);
      assert(!existsFile(`${c.root}/${c.id}`));
    }),
});
