/**
 * mountinfo and /proc/self/cgroup texts from real host kinds, for the pure parser tests.
 * @module
 */

/** This machine's kind: separate cpu and cpuacct, systemd name hierarchy, empty cgroup2. */
export const HYBRID_MOUNTINFO = `
22 28 0:20 / /proc rw,nosuid,nodev,noexec,relatime shared:5 - proc proc rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`;

export const HYBRID_PROC_CGROUP = `9:name=systemd:/
8:pids:/
7:blkio:/
6:freezer:/
5:devices:/
4:memory:/process_api/5c9a
3:cpuset:/
2:cpuacct:/
1:cpu:/
0::/
`;

/** A systemd v1 host (Debian 10 style): co-mounted cpu,cpuacct and net_cls,net_prio. */
export const V1_COMOUNT_MOUNTINFO = `
25 18 0:23 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
26 25 0:24 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,xattr,name=systemd
29 25 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,cpu,cpuacct
30 25 0:28 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:12 - cgroup cgroup rw,net_cls,net_prio
31 25 0:29 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup rw,memory
32 25 0:30 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,pids
33 25 0:31 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,cpuset,clone_children
`;

export const V1_COMOUNT_PROC_CGROUP = `6:cpuset:/
5:pids:/system.slice/polis.service
4:memory:/system.slice/polis.service
3:net_cls,net_prio:/
2:cpu,cpuacct:/system.slice/polis.service
1:name=systemd:/system.slice/polis.service
`;

/** A pure v2 host (systemd unified), running inside a delegated service. */
export const V2_MOUNTINFO = `
24 18 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`;

export const V2_PROC_CGROUP = `0::/system.slice/polis.service
`;

/** Inside a container without a cgroup namespace: the mounts show a sub-tree of the host's. */
export const NESTED_MOUNTINFO = `
700 690 0:29 /docker/abc /sys/fs/cgroup/memory ro,nosuid - cgroup cgroup rw,memory
701 690 0:22 /docker/abc /sys/fs/cgroup/my\\040dir rw - cgroup2 cgroup2 rw
`;

export const NESTED_PROC_CGROUP = `4:memory:/docker/abc/inner
0::/elsewhere
`;
