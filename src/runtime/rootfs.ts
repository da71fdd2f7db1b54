/**
 * The container's filesystem view, built by its init inside the new mount namespace: root
 * propagation, the rootfs bound onto itself, the spec's mounts (destinations resolved inside
 * the rootfs), /dev, pivot_root, then masked and read-only paths, sysctls and a read-only root.
 * @module
 */

import {
  isErrno,
  MNT_DETACH,
  MOUNT_ATTR_RDONLY,
  MS_BIND,
  MS_NODEV,
  MS_NOEXEC,
  MS_NOSUID,
  MS_RDONLY,
  MS_REC,
  MS_REMOUNT,
  MS_SLAVE,
  S_IFBLK,
  S_IFCHR,
  S_IFIFO,
} from "../../ffi/mod.ts";
import type { CgroupMountPlan, InitPlan, PlannedDevice, PlannedMount } from "./plan.ts";
import { BIND_REMOUNT_FLAGS } from "./mountopts.ts";
import { insideRoot, secureJoin } from "./securejoin.ts";
import { type InitEnv, step } from "./initenv.ts";
import { DEFAULT_DEVICES, DEFAULT_LINKS } from "./devices.ts";

/** A cgroup hierarchy mount that must wait until the init is in its cgroup and cgroup ns. */
export interface DeferredCgroupMount {
  /** Path inside the container (valid after pivot_root). */
  path: string;
  version: 1 | 2;
  options: string;
  flags: number;
}

const LOCKED = MS_NOSUID | MS_NODEV | MS_NOEXEC;

function parentOf(p: string): string {
  return p.slice(0, p.lastIndexOf("/")) || "/";
}

/** Mount points below `dest` (not itself), deepest last, from a mountinfo text. */
export function submountsOf(mountinfo: string, dest: string): string[] {
  const out: string[] = [];
  for (const line of mountinfo.split("\n")) {
    const raw = line.split(" ")[4];
    if (!raw) continue;
    const mp = raw.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
    if (mp.startsWith(dest + "/")) out.push(mp);
  }
  return out;
}

/**
 * Makes every mount below `dest` read-only too: a bind remount only changes the top one, and
 * an "rbind,ro" of /sys must not leave its submounts writable.
 */
function readonlySubtree(env: InitEnv, dest: string): void {
  try {
    env.sys.mountSetattr(dest, MOUNT_ATTR_RDONLY, 0, true);
    return;
  } catch (e) {
    if (!isErrno(e, "ENOSYS")) throw e;
  }
  for (const mp of submountsOf(env.files.readFile("/proc/self/mountinfo"), dest)) {
    const keep = env.sys.mountFlagsOf(mp) & LOCKED;
    env.sys.mount(null, mp, null, MS_REMOUNT | MS_BIND | MS_RDONLY | keep);
  }
}

/** Bind `source` on `dest`, then remount for flags a bind ignores, then propagation. */
function bindMount(env: InitEnv, source: string, dest: string, flags: number, prop: number[]) {
  const { sys, fs, files } = env;
  if (fs.stat(source)?.isDirectory) {
    files.mkdirAll(dest);
  } else {
    files.mkdirAll(parentOf(dest));
    files.touch(dest);
  }
  sys.mount(source, dest, null, MS_BIND | (flags & MS_REC));
  if (flags & BIND_REMOUNT_FLAGS) {
    sys.mount(null, dest, null, MS_REMOUNT | MS_BIND | (flags & BIND_REMOUNT_FLAGS));
  }
  if ((flags & MS_REC) && (flags & MS_RDONLY)) readonlySubtree(env, dest);
  for (const p of prop) sys.mount(null, dest, null, p);
}

function mountCgroup(
  plan: InitPlan,
  m: PlannedMount,
  dest: string,
  env: InitEnv,
  deferred: DeferredCgroupMount[],
): void {
  const { sys, files } = env;
  const hierarchies: CgroupMountPlan[] = plan.cgroup.mounts;
  const flags = m.flags & (MS_RDONLY | LOCKED);
  const inner = (h: CgroupMountPlan) => (h.name === "" ? dest : `${dest}/${h.name}`);
  const place = (h: CgroupMountPlan) => {
    const target = inner(h);
    files.mkdirAll(target);
    if (plan.newCgroupNs) {
      deferred.push({
        path: insideRoot(plan.rootfs, target),
        version: h.version,
        options: h.options,
        flags,
      });
    } else {
      // Without a cgroup namespace, show only the container's own cgroup directories.
      bindMount(env, h.hostDir, target, flags, []);
    }
  };
  const v2Only = hierarchies.length === 1 && hierarchies[0].name === "";
  if (v2Only) {
    place(hierarchies[0]);
  } else {
    files.mkdirAll(dest);
    sys.mount("tmpfs", dest, "tmpfs", LOCKED, "mode=755");
    for (const h of hierarchies) place(h);
    if (flags & MS_RDONLY) sys.mount(null, dest, null, MS_REMOUNT | LOCKED | MS_RDONLY);
  }
  for (const p of m.propagation) sys.mount(null, dest, null, p);
}

function makeDevice(env: InitEnv, rootfs: string, d: PlannedDevice): void {
  const { sys, files } = env;
  const dest = secureJoin(rootfs, d.path, env.fs);
  files.mkdirAll(parentOf(dest));
  const kind = d.type === "b" ? S_IFBLK : d.type === "p" ? S_IFIFO : S_IFCHR;
  try {
    sys.mknod(dest, kind | (d.fileMode & 0o7777), d.major, d.minor);
  } catch (e) {
    if (isErrno(e, "EEXIST")) return;
    if (!isErrno(e, "EPERM") || d.type === "p") throw e;
    // mknod refused (e.g. a nodev /dev): bind the host's node instead, as runc does.
    files.touch(dest);
    sys.mount(d.path, dest, null, MS_BIND);
    return;
  }
  files.chmod(dest, d.fileMode & 0o7777);
  if (d.uid !== 0 || d.gid !== 0) files.chown(dest, d.uid, d.gid);
}

/**
 * Everything before pivot_root. Returns the cgroup mounts that must wait for the cgroup
 * namespace (see `mountDeferred`).
 */
export function prepareRootfs(plan: InitPlan, env: InitEnv): DeferredCgroupMount[] {
  const { sys, fs, files } = env;
  const rootfs = plan.rootfs;
  step("making / private", () => sys.mount(null, "/", null, plan.rootPropagation));
  step(`binding the rootfs ${rootfs}`, () => sys.mount(rootfs, rootfs, null, MS_BIND | MS_REC));

  const deferred: DeferredCgroupMount[] = [];
  plan.mounts.forEach((m, i) => {
    const what = `mounts[${i}] (${m.kind === "bind" ? m.source : m.type} on ${m.destination})`;
    step(what, () => {
      const dest = secureJoin(rootfs, m.destination, fs);
      if (m.kind === "bind") {
        bindMount(env, m.source, dest, m.flags, m.propagation);
        return;
      }
      if (m.kind === "cgroup") {
        mountCgroup(plan, m, dest, env, deferred);
        return;
      }
      files.mkdirAll(dest);
      sys.mount(m.source, dest, m.type, m.flags, m.data);
      for (const p of m.propagation) sys.mount(null, dest, null, p);
    });
  });

  if (plan.defaultDevices) {
    for (const d of DEFAULT_DEVICES) {
      step(`creating ${d.path}`, () => makeDevice(env, rootfs, d));
    }
    for (const [link, target] of DEFAULT_LINKS) {
      if (link === "/dev/core" && !fs.lstat("/proc/kcore")) continue;
      step(`linking ${link}`, () => {
        const dest = secureJoin(rootfs, link, fs);
        if (fs.lstat(dest)) return;
        sys.symlink(target, dest);
      });
    }
  }
  for (const d of plan.devices) step(`creating device ${d.path}`, () => makeDevice(env, rootfs, d));
  return deferred;
}

/** pivot_root into the rootfs and drop the old root without touching the host's mounts. */
export function pivotInto(rootfs: string, env: InitEnv): void {
  const { sys } = env;
  step(`pivot_root into ${rootfs}`, () => {
    sys.chdir(rootfs);
    sys.pivotRoot(".", ".");
    // The old root is now stacked on "."; make it a slave so its unmount cannot propagate.
    sys.mount(null, ".", null, MS_SLAVE | MS_REC);
    sys.umount2(".", MNT_DETACH);
    sys.chdir("/");
  });
}

/** Everything after pivot_root that needs privileges: paths are the container's. */
export function finishRootfs(plan: InitPlan, env: InitEnv): void {
  const { sys, fs, files } = env;
  if (plan.rootPropagationAfter) {
    step("setting root propagation", () => sys.mount(null, "/", null, plan.rootPropagationAfter));
  }
  for (const [key, value] of Object.entries(plan.sysctl)) {
    step(
      `setting sysctl ${key}`,
      () => files.writeFile(`/proc/sys/${key.replaceAll(".", "/")}`, value),
    );
  }
  for (const p of plan.maskedPaths) {
    const st = fs.lstat(p);
    if (!st) continue;
    step(`masking ${p}`, () => {
      if (st.isDirectory) sys.mount("tmpfs", p, "tmpfs", MS_RDONLY, null);
      else sys.mount("/dev/null", p, null, MS_BIND);
    });
  }
  for (const p of plan.readonlyPaths) {
    if (!fs.lstat(p)) continue;
    step(`making ${p} read-only`, () => {
      sys.mount(p, p, null, MS_BIND | MS_REC);
      const keep = sys.mountFlagsOf(p) & LOCKED;
      sys.mount(null, p, null, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC | keep);
    });
  }
  if (plan.hostname) step("setting the hostname", () => sys.sethostname(plan.hostname!));
  if (plan.oomScoreAdj !== undefined) {
    step(
      "setting oom_score_adj",
      () => files.writeFile("/proc/self/oom_score_adj", String(plan.oomScoreAdj)),
    );
  }
  const cwd = plan.process.cwd;
  step(`entering the working directory ${cwd}`, () => {
    if (!fs.stat(cwd)) files.mkdirAll(cwd);
    sys.chdir(cwd);
  });
  if (plan.rootReadonly) {
    step("making the root read-only", () => {
      const keep = sys.mountFlagsOf("/") & LOCKED;
      sys.mount(null, "/", null, MS_BIND | MS_REMOUNT | MS_RDONLY | keep);
    });
  }
}

/** The cgroup hierarchy mounts, once the init is in its cgroup and its own cgroup namespace. */
export function mountDeferred(list: DeferredCgroupMount[], env: InitEnv): void {
  for (const d of list) {
    step(`mounting cgroup at ${d.path}`, () => {
      if (d.version === 2) env.sys.mount("cgroup2", d.path, "cgroup2", d.flags, null);
      else env.sys.mount("cgroup", d.path, "cgroup", d.flags, d.options);
    });
  }
}
