/**
 * rtnetlink IPv6 against the kernel, inside a network namespace this test makes (an
 * `unshare --net sleep` process, killed at the end: the namespace goes with it): addresses
 * usable at once (no DAD), default and subnet routes via a gateway, listing them back, deleting
 * them, and errors naming the errno and what was asked. Nothing is done in the host namespace.
 */

import { deepStrictEqual as assertEquals, ok, rejects, throws } from "node:assert/strict";
import {
  AF_INET6,
  errnoName,
  IFA_F_NODAD,
  IFA_F_TENTATIVE,
  NetlinkError,
  type Rtnl,
  rtnlInNetns,
  setSysctlsInNetns,
} from "../ffi/mod.ts";

const tag = crypto.randomUUID().slice(0, 4);

async function withNetns(
  fn: (nl: Rtnl, nsPath: string) => Promise<void> | void,
): Promise<void> {
  const child = new Deno.Command("unshare", {
    args: ["--net", "--", "sleep", "300"],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const nsPath = `/proc/${child.pid}/ns/net`;
  let nl: Rtnl | undefined;
  try {
    const host = Deno.readLinkSync("/proc/self/ns/net");
    for (let i = 0; i < 200 && Deno.readLinkSync(nsPath) === host; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    ok(Deno.readLinkSync(nsPath) !== host, "unshare --net did not make a namespace");
    nl = await rtnlInNetns(nsPath);
    await fn(nl, nsPath);
  } finally {
    nl?.close();
    child.kill("SIGKILL");
    await child.status;
  }
}

function caught(fn: () => void): NetlinkError {
  try {
    fn();
  } catch (e) {
    ok(e instanceof NetlinkError, String(e));
    return e;
  }
  throw new Error("expected a NetlinkError");
}

Deno.test("IPv6 addresses and routes are added, listed and deleted inside a fresh netns", async () => {
  await withNetns(async (nl, nsPath) => {
    const a = `v6a-${tag}`, b = `v6b-${tag}`;
    nl.createVeth(a, b);
    // A new namespace may inherit disable_ipv6=1 (devconf_inherit_init_net): say it plainly.
    await setSysctlsInNetns(nsPath, {
      [`net/ipv6/conf/${a}/disable_ipv6`]: "0",
      [`net/ipv6/conf/${b}/disable_ipv6`]: "0",
    });
    nl.setLink(a, { up: true });
    nl.setLink(b, { up: true });
    const ia = nl.getLink(a).index;
    nl.addAddress(a, "fd12:3456::1", 64);
    nl.addAddress(b, "fd12:3456::2", 64);

    const mine = nl.listAddresses(AF_INET6).filter((x) => x.address.startsWith("fd12:3456:"));
    assertEquals(
      mine.map((x) => [x.index, x.address, x.prefixLen]).sort(),
      [[ia, "fd12:3456::1", 64], [nl.getLink(b).index, "fd12:3456::2", 64]].sort(),
    );
    for (const x of mine) {
      ok(x.flags & IFA_F_NODAD, `NODAD set on ${x.address}`);
      ok(!(x.flags & IFA_F_TENTATIVE), `${x.address} usable at once, not tentative`);
    }

    nl.addRoute({ dst: "default", gateway: "fd12:3456::fe", dev: a });
    nl.addRoute({ dst: "fd34:1::/48", gateway: "fd12:3456::fe", dev: a });
    const routes = () =>
      nl.listRoutes({ family: AF_INET6 }).filter((r) => r.gateway === "fd12:3456::fe");
    assertEquals(
      routes().map((r) => [r.family, r.dst, r.oif]).sort(),
      [[AF_INET6, "default", ia], [AF_INET6, "fd34:1::/48", ia]].sort(),
    );
    // The kernel's own prefix route of the address is there too.
    ok(nl.listRoutes({ family: AF_INET6 }).some((r) => r.dst === "fd12:3456::/64" && r.oif === ia));

    // Counters come with the links.
    const links = nl.listLinks();
    ok(links.find((l) => l.name === a)?.stats, "link counters listed");

    nl.deleteRoute({ dst: "default", gateway: "fd12:3456::fe", dev: a });
    nl.deleteRoute({ dst: "fd34:1::/48", gateway: "fd12:3456::fe", dev: a });
    assertEquals(routes(), []);
    nl.deleteAddress(a, "fd12:3456::1", 64);
    nl.deleteAddress(b, "fd12:3456::2", 64);
    assertEquals(
      nl.listAddresses(AF_INET6).filter((x) => x.address.startsWith("fd12:3456:")),
      [],
    );
  });
});

Deno.test("IPv6 netlink errors carry the errno and what was asked", async () => {
  await withNetns((nl) => {
    const a = `v6e-${tag}`;
    nl.createVeth(a, `${a}p`);
    nl.setLink(a, { up: true });

    const missing = caught(() => nl.addAddress("nope0", "fd12::5", 64));
    assertEquals(errnoName(missing.errno), "ENODEV");
    ok(missing.message.includes('add address fd12::5/64 on "nope0"'), missing.message);

    nl.addAddress(a, "fd12::5", 64);
    const dup = caught(() => nl.addAddress(a, "fd12::5", 64));
    assertEquals(errnoName(dup.errno), "EEXIST");
    ok(dup.message.includes(`add address fd12::5/64 on "${a}"`), dup.message);
    ok(dup.message.includes("RTM_NEWADDR"), dup.message);

    const gone = caught(() => nl.deleteRoute({ dst: "fd99::/64", gateway: "fd12::9", dev: a }));
    assertEquals(errnoName(gone.errno), "ESRCH");
    ok(gone.message.includes(`delete route fd99::/64 via fd12::9 dev "${a}"`), gone.message);

    const noDev = caught(() => nl.addRoute({ dst: "default", gateway: "fd12::9", dev: "nope0" }));
    assertEquals(errnoName(noDev.errno), "ENODEV");
    ok(noDev.message.includes("add route default via fd12::9"), noDev.message);

    throws(() => nl.addAddress(a, "fd12::zz", 64), /invalid IP address "fd12::zz"/);
  });
  await rejects(setSysctlsInNetns("/proc/self/ns/net", { "net/ipv6/conf/nope0/x": "0" }), /open/);
});
