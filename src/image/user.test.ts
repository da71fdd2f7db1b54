import { deepStrictEqual as eq, throws } from "node:assert/strict";
import { PolisError } from "../core/errors.ts";
import { resolveUser, resolveUserFrom } from "./user.ts";

const PASSWD = `root:x:0:0:root:/root:/bin/sh
# comment
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
app:x:1000:1000::/home/app:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
broken line
`;
const GROUP = `root:x:0:root
wheel:x:10:root,app
app:x:1000:
audio:x:29:app
nogroup:x:65534:
`;

Deno.test("resolveUserFrom follows docker's user:group rules", () => {
  const cases: [string, ReturnType<typeof resolveUserFrom>][] = [
    ["", { uid: 0, gid: 0, additionalGids: [0, 10], home: "/root" }],
    ["root", { uid: 0, gid: 0, additionalGids: [0, 10], home: "/root" }],
    ["app", { uid: 1000, gid: 1000, additionalGids: [10, 29], home: "/home/app" }],
    ["1000", { uid: 1000, gid: 1000, additionalGids: [10, 29], home: "/home/app" }],
    ["4242", { uid: 4242, gid: 0, additionalGids: [], home: "/" }],
    ["app:audio", { uid: 1000, gid: 29, additionalGids: [], home: "/home/app" }],
    ["nobody:5", { uid: 65534, gid: 5, additionalGids: [], home: "/nonexistent" }],
    ["4242:4243", { uid: 4242, gid: 4243, additionalGids: [], home: "/" }],
  ];
  for (const [user, want] of cases) eq(resolveUserFrom(user, PASSWD, GROUP), want, user);
});

Deno.test("resolveUserFrom names the unknown user or group", () => {
  const invalid = (msg: string) => (e: unknown) =>
    e instanceof PolisError && e.code === "invalid_argument" && e.message === msg;
  throws(
    () => resolveUserFrom("x", PASSWD, GROUP),
    invalid("unable to find user x: no matching entries in passwd file"),
  );
  throws(
    () => resolveUserFrom("app:nope", PASSWD, GROUP),
    invalid("unable to find group nope: no matching entries in group file"),
  );
  throws(
    () => resolveUserFrom("app", undefined, undefined),
    invalid("unable to find user app: no matching entries in passwd file"),
  );
  eq(resolveUserFrom("7", undefined, undefined).uid, 7);
});

Deno.test("resolveUser reads passwd through symlinks kept inside the rootfs", () => {
  const root = Deno.makeTempDirSync({ prefix: "polis-user-" });
  const host = Deno.makeTempDirSync({ prefix: "polis-user-host-" });
  try {
    Deno.mkdirSync(`${root}/etc`);
    Deno.mkdirSync(`${root}/real`);
    Deno.writeTextFileSync(`${root}/real/passwd`, "svc:x:77:88::/srv:/bin/sh\n");
    // An absolute link resolves against the rootfs, not the host.
    Deno.symlinkSync("/real/passwd", `${root}/etc/passwd`);
    eq(resolveUser(root, "svc").uid, 77);

    // A link that climbs out with .. stays clamped at the rootfs top.
    Deno.writeTextFileSync(`${host}/group`, "evil:x:5:svc\n");
    Deno.symlinkSync(`../../../../../../..${host}/group`, `${root}/etc/group`);
    eq(resolveUser(root, "svc").additionalGids, []);
  } finally {
    Deno.removeSync(root, { recursive: true });
    Deno.removeSync(host, { recursive: true });
  }
});
