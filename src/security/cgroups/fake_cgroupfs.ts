/**
 * A small in-memory cgroup2 filesystem for unit tests of the v2 driver: mkdir populates the
 * interface files from the parent's subtree_control, subtree_control refuses controllers the
 * cgroup does not have, rmdir is EBUSY while populated, cpu.max checks its period. Every write
 * is logged so tests can prove which cgroups were (not) touched.
 * @module
 */

import type { CgroupFs } from "./cgfs.ts";

function fail(code: string, msg: string): Error {
  if (code === "ENOENT") return new Deno.errors.NotFound(msg);
  if (code === "EEXIST") return new Deno.errors.AlreadyExists(msg);
  return Object.assign(new Error(`${msg} (${code})`), { code });
}

interface Node {
  controllers: string[];
  subtree: string[];
  files: Map<string, string>;
}

export class FakeCgroup2Fs implements CgroupFs {
  readonly writes: { path: string; data: string }[] = [];
  readonly #dirs = new Map<string, Node>();

  /** `root` is the mount point; its cgroup.controllers is `controllers`. */
  constructor(readonly root: string, controllers: string[]) {
    this.#dirs.set(root, this.#node(controllers));
  }

  /** Makes a cgroup that belongs to someone else, with the given subtree_control. */
  seed(path: string, subtree: string[] = []): void {
    this.mkdir(path);
    const n = this.#dirs.get(path)!;
    n.subtree = subtree.filter((c) => n.controllers.includes(c));
  }

  enableAtRoot(subtree: string[]): void {
    this.#dirs.get(this.root)!.subtree = subtree;
  }

  dirs(): string[] {
    return [...this.#dirs.keys()].sort();
  }

  #node(controllers: string[]): Node {
    const files = new Map<string, string>([
      ["cgroup.procs", ""],
      ["cgroup.kill", ""],
      ["cpu.stat", "usage_usec 0\n"],
    ]);
    const per: Record<string, [string, string][]> = {
      memory: [
        ["memory.max", "max"],
        ["memory.swap.max", "max"],
        ["memory.current", "0"],
        ["memory.events", "oom 0\noom_kill 0\n"],
      ],
      cpu: [["cpu.max", "max 100000"], ["cpu.weight", "100"]],
      pids: [["pids.max", "max"], ["pids.current", "0"]],
      io: [["io.max", ""]],
    };
    for (const c of controllers) for (const [f, v] of per[c] ?? []) files.set(f, v);
    return { controllers: [...controllers], subtree: [], files };
  }

  #split(path: string): [string, string] {
    const i = path.lastIndexOf("/");
    return [path.slice(0, i), path.slice(i + 1)];
  }

  mkdir(path: string): void {
    const [parent] = this.#split(path);
    const p = this.#dirs.get(parent);
    if (!p) throw fail("ENOENT", `mkdir ${path}`);
    if (this.#dirs.has(path) || p.files.has(path.slice(parent.length + 1))) {
      throw fail("EEXIST", `mkdir ${path}`);
    }
    this.#dirs.set(path, this.#node(p.subtree));
  }

  rmdir(path: string): void {
    const n = this.#dirs.get(path);
    if (!n) throw fail("ENOENT", `rmdir ${path}`);
    const populated = n.files.get("cgroup.procs") !== "" ||
      this.#subdirNames(path).length > 0;
    if (populated) throw fail("EBUSY", `rmdir ${path}`);
    this.#dirs.delete(path);
  }

  readFile(path: string): string {
    const [dir, file] = this.#split(path);
    const n = this.#dirs.get(dir);
    if (n && file === "cgroup.controllers") return n.controllers.join(" ") + "\n";
    if (n && file === "cgroup.subtree_control") return n.subtree.join(" ") + "\n";
    const v = n?.files.get(file);
    if (v === undefined) throw fail("ENOENT", `read ${path}`);
    return v;
  }

  writeFile(path: string, data: string): void {
    const [dir, file] = this.#split(path);
    const n = this.#dirs.get(dir);
    if (!n || !(n.files.has(file) || file === "cgroup.subtree_control")) {
      throw fail("ENOENT", `write ${path}`);
    }
    this.writes.push({ path, data });
    if (file === "cgroup.subtree_control") {
      for (const w of data.trim().split(/\s+/)) {
        const c = w.slice(1);
        if (!n.controllers.includes(c)) throw fail("ENOENT", `write ${path}`);
        if (n.files.get("cgroup.procs") !== "") throw fail("EBUSY", `write ${path}`);
        n.subtree = w.startsWith("+")
          ? [...new Set([...n.subtree, c])].sort()
          : n.subtree.filter((x) => x !== c);
      }
      return;
    }
    if (file === "cpu.max") {
      const [q, p = "100000"] = data.trim().split(" ");
      if ((q !== "max" && !(Number(q) >= 1000)) || !(Number(p) >= 1000)) {
        throw fail("EINVAL", `write ${path}`);
      }
    }
    if (file === "cgroup.procs") {
      n.files.set(file, (n.files.get(file) ?? "") + data.trim() + "\n");
      return;
    }
    if (file === "cgroup.kill") {
      n.files.set("cgroup.procs", "");
      return;
    }
    n.files.set(file, data);
  }

  kind(path: string): "dir" | "file" | null {
    if (this.#dirs.has(path)) return "dir";
    const [dir, file] = this.#split(path);
    const n = this.#dirs.get(dir);
    if (n && (n.files.has(file) || file.startsWith("cgroup."))) return "file";
    return null;
  }

  #subdirNames(path: string): string[] {
    return [...this.#dirs.keys()]
      .filter((d) => d.startsWith(path + "/") && !d.slice(path.length + 1).includes("/"))
      .map((d) => d.slice(path.length + 1));
  }

  subdirs(path: string): string[] {
    if (!this.#dirs.has(path)) throw fail("ENOENT", `readdir ${path}`);
    return this.#subdirNames(path);
  }
}
