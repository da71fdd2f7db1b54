/**
 * Test images built with independent tools: a busybox image made with umoci
 * from Debian's static /bin/busybox, copied to a docker-save archive with
 * skopeo and to an OCI-layout tar with tar(1); plus hand-made layer tars
 * (tar-stream's pack) for whiteout and hostile-archive tests. Built artefacts
 * are cached per test process in one temp dir.
 * @module
 */

import tar from "tar-stream";

export interface TarSpec {
  name: string;
  type?: "file" | "directory" | "symlink" | "link" | "character-device" | "fifo";
  body?: string | Uint8Array;
  linkname?: string;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: Date;
  devmajor?: number;
  devminor?: number;
}

/** A tar archive of the given entries, in memory (test layers are small). */
export async function tarBytes(entries: TarSpec[]): Promise<Uint8Array> {
  const pack = tar.pack();
  const chunks: Uint8Array[] = [];
  const collected = (async () => {
    for await (const c of pack) chunks.push(c as Uint8Array);
  })();
  for (const e of entries) {
    const type = e.type ?? "file";
    const mode = e.mode ?? (type === "directory" ? 0o755 : 0o644);
    const header = {
      name: e.name,
      type,
      mode,
      uid: e.uid ?? 0,
      gid: e.gid ?? 0,
      mtime: e.mtime ?? new Date(1_700_000_000_000),
      linkname: e.linkname,
      devmajor: e.devmajor,
      devminor: e.devminor,
    };
    await new Promise<void>((resolve, reject) => {
      const cb = (err?: Error | null) => err ? reject(err) : resolve();
      if (type === "file") pack.entry(header, e.body ?? "", cb);
      else pack.entry(header, cb).end(null);
    });
  }
  pack.finalize();
  await collected;
  return concat(chunks);
}

export function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.byteLength;
  }
  return out;
}

export function streamOf(bytes: Uint8Array): ReadableStream<Uint8Array> {
  return new Blob([bytes as Uint8Array<ArrayBuffer>]).stream();
}

export async function gzip(bytes: Uint8Array): Promise<Uint8Array> {
  const out: Uint8Array[] = [];
  for await (
    const c of streamOf(bytes).pipeThrough(
      new CompressionStream("gzip") as unknown as TransformStream<Uint8Array, Uint8Array>,
    )
  ) out.push(c);
  return concat(out);
}

export async function sha256(bytes: Uint8Array): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return "sha256:" + Array.from(new Uint8Array(d), (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Layers that try to write outside the directory they are unpacked into.
 * `outside` is an absolute path of a directory the tests watch for writes.
 */
export function hostileLayers(outside: string): Record<string, TarSpec[]> {
  const rel = `../../../../../../../..${outside}`;
  return {
    "dot-dot entry": [{ name: "../x", body: "pwned" }],
    "dot-dot inside a path": [{ name: "a/", type: "directory" }, {
      name: "a/../../x",
      body: "pwned",
    }],
    "deep relative escape": [{ name: `${rel}/x`, body: "pwned" }],
    "absolute path": [{ name: `${outside}/x`, body: "pwned" }],
    "write through an absolute symlink": [
      { name: "l", type: "symlink", linkname: outside },
      { name: "l/x", body: "pwned" },
    ],
    "write through a relative symlink": [
      { name: "l", type: "symlink", linkname: rel },
      { name: "l/x", body: "pwned" },
    ],
    "dir through a symlink": [
      { name: "l", type: "symlink", linkname: outside },
      { name: "l/sub/", type: "directory" },
    ],
    "hard link to an absolute path": [{ name: "h", type: "link", linkname: `${outside}/victim` }],
    "hard link out with dot-dot": [{ name: "h", type: "link", linkname: `${rel}/victim` }],
    "hard link through a symlink": [
      { name: "l", type: "symlink", linkname: outside },
      { name: "h", type: "link", linkname: "l/victim" },
    ],
    "whiteout through a symlink": [
      { name: "l", type: "symlink", linkname: outside },
      { name: "l/.wh.victim", body: "" },
    ],
  };
}

// ---------------------------------------------------------------- busybox images

export interface BusyboxImages {
  /** Temp dir holding everything below; removed by `cleanupImages`. */
  dir: string;
  /** OCI layout dir with tags "busybox:latest", "busybox-wh:latest", "busybox-cfg:latest". */
  ociDir: string;
  /** docker-save archive of busybox:latest (skopeo docker-archive). */
  dockerArchive: string;
  /** tar of the OCI layout dir. */
  ociArchive: string;
  /** docker-save archive of busybox-wh:latest (busybox plus a whiteout layer). */
  whiteoutArchive: string;
}

export const APPLETS = [
  "sh",
  "ls",
  "cat",
  "echo",
  "id",
  "mount",
  "umount",
  "true",
  "false",
  "sleep",
  "touch",
  "rm",
  "mkdir",
  "stat",
  "env",
  "pwd",
  "grep",
  "ps",
  "hostname",
  "wc",
];

async function run(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(
      `${cmd} ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr).trim()}`,
    );
  }
  return text;
}

/** Every applet this busybox has (httpd, awk, wget, …), falling back to APPLETS. */
async function allApplets(): Promise<string[]> {
  const out = await new Deno.Command("/bin/busybox", { args: ["--list"], stdout: "piped" })
    .output().catch(() => undefined);
  const names = out?.success
    ? new TextDecoder().decode(out.stdout).split("\n").filter((n) => /^[a-z0-9_.\[-]+$/.test(n))
    : [];
  return [...new Set([...APPLETS, ...names])].filter((n) => n !== "busybox");
}

let cached: Promise<BusyboxImages> | undefined;

/** Builds (once per process) the busybox test images. */
export function busyboxImages(): Promise<BusyboxImages> {
  cached ??= build();
  return cached;
}

/** Removes the cached images' temp dir (call from the last test, or leave for the OS). */
export async function cleanupImages(): Promise<void> {
  if (!cached) return;
  const imgs = await cached.catch(() => undefined);
  cached = undefined;
  if (imgs) await Deno.remove(imgs.dir, { recursive: true }).catch(() => {});
}

async function build(): Promise<BusyboxImages> {
  const dir = await Deno.makeTempDir({ prefix: "polis-test-images-" });
  // The cache lives as long as the test process; remove it when the process ends.
  globalThis.addEventListener("unload", () => {
    try {
      Deno.removeSync(dir, { recursive: true });
    } catch {
      // already gone
    }
  });
  try {
    const oci = `${dir}/oci`;
    const bundle = `${dir}/bundle`;
    await run("umoci", ["init", "--layout", oci]);
    await run("umoci", ["new", "--image", `${oci}:base`]);
    await run("umoci", ["unpack", "--image", `${oci}:base`, bundle]);
    const rootfs = `${bundle}/rootfs`;
    for (const d of ["bin", "etc", "tmp", "root", "opt/old", "home/nobody"]) {
      await Deno.mkdir(`${rootfs}/${d}`, { recursive: true });
    }
    await Deno.chmod(`${rootfs}/tmp`, 0o1777);
    await Deno.copyFile("/bin/busybox", `${rootfs}/bin/busybox`);
    await Deno.chmod(`${rootfs}/bin/busybox`, 0o755);
    for (const a of await allApplets()) await Deno.symlink("busybox", `${rootfs}/bin/${a}`);
    await Deno.writeTextFile(
      `${rootfs}/etc/passwd`,
      "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home/nobody:/bin/sh\n",
    );
    await Deno.writeTextFile(`${rootfs}/etc/group`, "root:x:0:\nnogroup:x:65534:\n");
    await Deno.writeTextFile(`${rootfs}/opt/old/a`, "old a\n");
    await Deno.writeTextFile(`${rootfs}/opt/old/b`, "old b\n");
    await run("umoci", ["repack", "--image", `${oci}:base`, bundle]);
    await run("umoci", [
      "config",
      "--image",
      `${oci}:base`,
      "--tag",
      "busybox:latest",
      "--config.cmd",
      "sh",
      "--config.env",
      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      "--created",
      "2024-01-02T03:04:05Z",
    ]);
    await run("umoci", [
      "config",
      "--image",
      `${oci}:busybox:latest`,
      "--tag",
      "busybox-cfg:latest",
      "--config.entrypoint",
      "/bin/echo",
      "--config.cmd",
      "hello",
      "--config.workingdir",
      "/tmp",
      "--config.user",
      "nobody",
      "--config.label",
      "org.example.test=yes",
    ]);

    // A second layer with a whiteout (/etc/group), a removed applet (/bin/ls) and an
    // opaque dir (/opt/old keeps only its new content).
    const layer = await tarBytes([
      { name: "etc/", type: "directory" },
      { name: "etc/.wh.group" },
      { name: "bin/", type: "directory" },
      { name: "bin/.wh.ls" },
      { name: "opt/", type: "directory" },
      { name: "opt/old/", type: "directory" },
      { name: "opt/old/.wh..wh..opq" },
      { name: "opt/old/c", body: "new c\n" },
      { name: "etc/added", body: "added\n", mode: 0o4755 },
    ]);
    await Deno.writeFile(`${dir}/wh-layer.tar`, layer);
    await run("umoci", [
      "config",
      "--image",
      `${oci}:busybox:latest`,
      "--tag",
      "busybox-wh:latest",
    ]);
    await run("umoci", [
      "raw",
      "add-layer",
      "--image",
      `${oci}:busybox-wh:latest`,
      `${dir}/wh-layer.tar`,
    ]);
    await Deno.remove(bundle, { recursive: true });
    await run("umoci", ["gc", "--layout", oci]);

    const dockerArchive = `${dir}/busybox-docker.tar`;
    await run("skopeo", [
      "--insecure-policy",
      "copy",
      "--quiet",
      `oci:${oci}:busybox:latest`,
      `docker-archive:${dockerArchive}:busybox:latest`,
    ]);
    const whiteoutArchive = `${dir}/busybox-wh-docker.tar`;
    await run("skopeo", [
      "--insecure-policy",
      "copy",
      "--quiet",
      `oci:${oci}:busybox-wh:latest`,
      `docker-archive:${whiteoutArchive}:busybox-wh:latest`,
    ]);
    const ociArchive = `${dir}/busybox-oci.tar`;
    await run("tar", ["-C", oci, "-cf", ociArchive, "."]);
    return { dir, ociDir: oci, dockerArchive, ociArchive, whiteoutArchive };
  } catch (e) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw e;
  }
}

export interface VariantOptions {
  /** The name the archive carries, e.g. "polis-test/app:1". */
  name: string;
  entrypoint?: string[];
  cmd?: string[];
  env?: string[];
  workingDir?: string;
  user?: string;
  labels?: Record<string, string>;
  stopSignal?: string;
  /** Extra entries, added as one more layer on top of busybox. */
  files?: TarSpec[];
}

const variants = new Map<string, Promise<string>>();

/**
 * A docker-save archive of busybox with a different config and/or extra files,
 * built once per process per name. Returns the archive's path.
 */
export function busyboxVariant(opts: VariantOptions): Promise<string> {
  const key = JSON.stringify(opts);
  let p = variants.get(key);
  if (!p) {
    p = buildVariant(opts, variants.size);
    variants.set(key, p);
  }
  return p;
}

async function buildVariant(o: VariantOptions, n: number): Promise<string> {
  const imgs = await busyboxImages();
  const tag = `variant-${n}`;
  const args = ["config", "--image", `${imgs.ociDir}:busybox:latest`, "--tag", tag];
  if (o.entrypoint) {
    args.push("--clear=config.entrypoint");
    for (const a of o.entrypoint) args.push("--config.entrypoint", a);
  }
  if (o.cmd) {
    args.push("--clear=config.cmd");
    for (const a of o.cmd) args.push("--config.cmd", a);
  }
  for (const e of o.env ?? []) args.push("--config.env", e);
  if (o.workingDir !== undefined) args.push("--config.workingdir", o.workingDir);
  if (o.user !== undefined) args.push("--config.user", o.user);
  for (const [k, v] of Object.entries(o.labels ?? {})) args.push("--config.label", `${k}=${v}`);
  if (o.stopSignal !== undefined) args.push("--config.stopsignal", o.stopSignal);
  await run("umoci", args);
  if (o.files?.length) {
    const layer = `${imgs.dir}/${tag}-layer.tar`;
    await Deno.writeFile(layer, await tarBytes(o.files));
    await run("umoci", ["raw", "add-layer", "--image", `${imgs.ociDir}:${tag}`, layer]);
  }
  const out = `${imgs.dir}/${tag}.tar`;
  await run("skopeo", [
    "--insecure-policy",
    "copy",
    "--quiet",
    `oci:${imgs.ociDir}:${tag}`,
    `docker-archive:${out}:${o.name}`,
  ]);
  return out;
}

/** Copies an OCI layout dir (to tamper with a copy). */
export async function copyDir(src: string, dst: string): Promise<void> {
  await run("cp", ["-a", src, dst]);
}

/** The OCI layout's index.json, parsed. */
export async function readJson<T = Record<string, unknown>>(path: string): Promise<T> {
  return JSON.parse(await Deno.readTextFile(path)) as T;
}

export const isRoot = Deno.uid() === 0;
