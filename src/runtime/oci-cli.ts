/**
 * `polis oci`: a runc-shaped command line over the runtime, for tools that drive an OCI
 * runtime (podman, conmon, containerd shims) and for tests.
 *
 *   polis oci [--root DIR] create [--bundle DIR] [--pid-file F] ID
 *   polis oci [--root DIR] start ID | state ID | kill ID [SIGNAL] | delete [--force] ID | list
 *
 * `create` plays the helper role in this process (there is no daemon): the init inherits
 * this process's stdio, and the container is re-parented to the system's init on exit.
 * @module
 */

import { errorMessage } from "../core/mod.ts";
import { startContainer } from "./start.ts";
import { killContainer } from "./kill.ts";
import { deleteContainer } from "./delete.ts";
import { containerState, listContainers } from "./list.ts";
import type { RuntimeConfig } from "./state.ts";

export const DEFAULT_OCI_ROOT = "/run/polis/runtime";

const USAGE = `usage: polis oci [--root DIR] COMMAND
  create [--bundle DIR] [--pid-file FILE] ID
  start ID
  state ID
  kill ID [SIGNAL]
  delete [--force] ID
  list`;

class UsageError extends Error {}

/** Splits `--flag value`, `--flag=value` and boolean flags off a verb's arguments. */
function parseFlags(
  args: string[],
  valued: Record<string, string>,
  booleans: Record<string, string>,
): { flags: Record<string, string | true>; rest: string[] } {
  const flags: Record<string, string | true> = {};
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (!a.startsWith("-") || a === "-") {
      rest.push(a);
      continue;
    }
    const eq = a.indexOf("=");
    const name = eq > 0 ? a.slice(0, eq) : a;
    if (name in valued) {
      const v = eq > 0 ? a.slice(eq + 1) : args[++i];
      if (v === undefined) throw new UsageError(`${name} needs a value`);
      flags[valued[name]] = v;
    } else if (name in booleans) {
      flags[booleans[name]] = true;
    } else {
      throw new UsageError(`unknown option ${name}`);
    }
  }
  return { flags, rest };
}

function oneId(rest: string[], verb: string, max = 1): string {
  if (rest.length < 1 || rest.length > max) throw new UsageError(`${verb} needs a container id`);
  return rest[0];
}

export async function runOciCli(argv: string[]): Promise<number> {
  try {
    // Global options come before the verb; --log/--log-format/--debug are accepted for runc
    // compatibility and ignored.
    let i = 0;
    let root = DEFAULT_OCI_ROOT;
    for (; i < argv.length && argv[i].startsWith("-"); i++) {
      const [name, inline] = argv[i].split(/=(.*)/s, 2);
      if (name === "--root") root = inline ?? argv[++i];
      else if (name === "--log" || name === "--log-format") inline ?? i++;
      else if (name === "--debug" || name === "--systemd-cgroup") continue;
      else if (name === "--help" || name === "-h") {
        console.log(USAGE);
        return 0;
      } else throw new UsageError(`unknown option ${name}`);
    }
    if (!root) throw new UsageError("--root needs a value");
    const cfg: RuntimeConfig = { stateRoot: root };
    const verb = argv[i];
    const args = argv.slice(i + 1);
    switch (verb) {
      case "create": {
        const { flags, rest } = parseFlags(
          args,
          {
            "--bundle": "bundle",
            "-b": "bundle",
            "--pid-file": "pidFile",
            "--console-socket": "console",
          },
          { "--no-pivot": "noPivot", "--no-new-keyring": "noKeyring" },
        );
        if (flags.console) throw new UsageError("--console-socket is not supported");
        // Loaded only here: the bundle schema (zod) is the slowest import of all verbs.
        const { createContainer } = await import("./create.ts");
        await createContainer(
          cfg,
          {
            id: oneId(rest, "create"),
            bundle: (flags.bundle as string | undefined) ?? Deno.cwd(),
            ...(flags.pidFile ? { pidFile: flags.pidFile as string } : {}),
          },
          "inline",
        );
        return 0;
      }
      case "start":
        await startContainer(cfg, oneId(args, "start"));
        return 0;
      case "state":
        console.log(JSON.stringify(containerState(cfg, oneId(args, "state")), null, 2));
        return 0;
      case "kill": {
        const { rest } = parseFlags(args, {}, { "--all": "all", "-a": "all" });
        const id = oneId(rest, "kill", 2);
        killContainer(cfg, id, rest[1] ?? "SIGTERM");
        return 0;
      }
      case "delete": {
        const { flags, rest } = parseFlags(args, {}, { "--force": "force", "-f": "force" });
        await deleteContainer(cfg, oneId(rest, "delete"), { force: flags.force === true });
        return 0;
      }
      case "list":
        console.log(JSON.stringify(listContainers(cfg), null, 2));
        return 0;
      default:
        throw new UsageError(verb ? `unknown command ${verb}` : "missing command");
    }
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`polis oci: ${e.message}\n${USAGE}`);
      return 2;
    }
    console.error(`polis oci: ${errorMessage(e)}`);
    return 1;
  }
}
