/**
 * A netlink request sent from a pool thread (Rtnl.deleteLinkIfExistsAsync, what container
 * teardown uses so the event loop is not held for the kernel's RCU wait), against the kernel:
 * it deletes a veth pair the test made in the host namespace (unique names, removed in
 * `finally` whatever happens), reports a missing link as false, and is refused on an Rtnl
 * handed a socket of maybe another namespace.
 */

import { deepStrictEqual as assertEquals, ok, rejects } from "node:assert/strict";
import { NetlinkSocket, Rtnl } from "../ffi/mod.ts";

const skip = Deno.uid() !== 0;
const tag = crypto.randomUUID().slice(0, 6);

Deno.test({
  name: "a link deleted from a pool thread is gone with its peer; a missing one gives false",
  ignore: skip,
  fn: async () => {
    const nl = new Rtnl();
    const [a, b] = [`pa${tag}`, `pb${tag}`];
    try {
      nl.createVeth(a, b, {});
      ok(nl.findLink(a) && nl.findLink(b));
      // Several at once, each on its own socket: every ack reaches its own request.
      const more = [1, 2, 3].map((i) => [`pc${tag}${i}`, `pd${tag}${i}`]);
      for (const [x, y] of more) nl.createVeth(x, y, {});
      const results = await Promise.all(
        [a, ...more.map(([x]) => x)].map((n) => nl.deleteLinkIfExistsAsync(n)),
      );
      assertEquals(results, [true, true, true, true]);
      for (const n of [a, b, ...more.flat()]) assertEquals(nl.findLink(n), undefined, n);
      assertEquals(await nl.deleteLinkIfExistsAsync(a), false);
    } finally {
      for (const n of [a, `pc${tag}1`, `pc${tag}2`, `pc${tag}3`]) nl.deleteLinkIfExists(n);
      nl.close();
    }
  },
});

Deno.test({
  name: "an Rtnl handed a socket refuses async deletes (its namespace is not known here)",
  ignore: skip,
  fn: async () => {
    const nl = new Rtnl(new NetlinkSocket());
    try {
      await rejects(nl.deleteLinkIfExistsAsync(`px${tag}`), /needs an Rtnl of this namespace/);
    } finally {
      nl.close();
    }
  },
});
