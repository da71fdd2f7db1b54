/**
 * Reads the daemon's mount table to learn whether a path is a mount point.
 * @module
 */

/** Decodes mountinfo's octal escapes (\040 for space, …). */
function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
}

export function mountPoints(text = Deno.readTextFileSync("/proc/self/mountinfo")): string[] {
  return text.split("\n").filter(Boolean).map((l) => unescape(l.split(" ")[4]));
}

export function isMountPoint(path: string): boolean {
  return mountPoints().includes(path.replace(/\/+$/, "") || "/");
}
