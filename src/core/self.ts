/**
 * How Polis re-executes itself for helper modes (setup, init). In a compiled
 * binary `Deno.execPath()` is polis; under `deno run` it is deno and needs the
 * script and permission flags (DESIGN.md fact 11).
 * @module
 */

export function selfCommand(): string[] {
  const override = Deno.env.get("POLIS_SELF");
  if (override) return override.split(" ").filter(Boolean);
  const exe = Deno.execPath();
  const base = exe.slice(exe.lastIndexOf("/") + 1);
  if (base === "deno" || base.startsWith("deno.")) {
    const main = Deno.mainModule;
    return [exe, "run", "-A", "--unstable-net", "--no-prompt", "--quiet", main];
  }
  return [exe];
}
