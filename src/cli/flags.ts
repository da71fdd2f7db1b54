/**
 * A pure command-line flag parser driven by a per-command spec table, with docker's
 * (pflag's) conventions: `--flag value`, `--flag=value`, `-f value`, `-fvalue`, repeated
 * list flags, combined short booleans (`-aq`), `--` to end flags, flags anywhere among the
 * arguments, except for commands that run a trailing command (`run IMAGE ls -l`), where
 * parsing stops at the first positional.
 *
 * @example
 * ```ts
 * const p = parseArgs(runSpec, ["-d", "--name=web", "busybox", "ls", "-l"]);
 * p.bool("detach"); // true
 * p.args; // ["busybox", "ls", "-l"]
 * ```
 * @module
 */

export type FlagKind = "bool" | "string" | "list" | "int";

export interface FlagSpec {
  /** Long name, without the dashes. */
  name: string;
  /** One-letter short name, without the dash. */
  short?: string;
  kind: FlagKind;
  /** What the help shows after the flag for its value ("SIZE"); defaults to the kind. */
  arg?: string;
  help: string;
}

export interface CommandSpec {
  /** What follows "polis <command>" in the help: `[OPTIONS] IMAGE [COMMAND] [ARG...]` */
  usage: string;
  summary: string;
  flags: FlagSpec[];
  /** Stop parsing flags at the first positional: the rest is the container's command. */
  stopAtPositional?: boolean;
  /** Positional argument count. */
  args?: { min: number; max?: number };
}

/** A command-line mistake: printed as one line, exit code 125. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

type Value = boolean | string | string[] | number;

/** The parsed flags, read by typed accessors that reject names missing from the spec. */
export class ParsedArgs {
  readonly args: string[];
  /** `--help` (or `-h` where the command does not use it) was given. */
  readonly help: boolean;
  readonly #values: Map<string, Value>;
  readonly #spec: CommandSpec;

  constructor(spec: CommandSpec, values: Map<string, Value>, args: string[], help: boolean) {
    this.#spec = spec;
    this.#values = values;
    this.args = args;
    this.help = help;
  }

  #get(name: string, kind: FlagKind): Value | undefined {
    const flag = this.#spec.flags.find((f) => f.name === name);
    if (!flag || flag.kind !== kind) throw new Error(`no ${kind} flag --${name} in the spec`);
    return this.#values.get(name);
  }

  /** Whether the flag was given at all. */
  has(name: string): boolean {
    return this.#values.has(name);
  }
  bool(name: string): boolean {
    return (this.#get(name, "bool") as boolean | undefined) ?? false;
  }
  string(name: string): string | undefined {
    return this.#get(name, "string") as string | undefined;
  }
  list(name: string): string[] {
    return (this.#get(name, "list") as string[] | undefined) ?? [];
  }
  int(name: string): number | undefined {
    return this.#get(name, "int") as number | undefined;
  }
}

/** How errors name a flag: `"-t, --time"` or `"--name"`, as docker does. */
export function flagLabel(flag: FlagSpec): string {
  return flag.short ? `-${flag.short}, --${flag.name}` : `--${flag.name}`;
}

/** Whether `-h` means help for this command (run and create use it for --hostname). */
function shortHelp(spec: CommandSpec): boolean {
  return !spec.flags.some((f) => f.short === "h");
}

function parseBool(flag: FlagSpec, raw: string): boolean {
  if (/^(1|t|true|TRUE|True)$/.test(raw)) return true;
  if (/^(0|f|false|FALSE|False)$/.test(raw)) return false;
  throw new UsageError(`invalid argument "${raw}" for "${flagLabel(flag)}" flag: not a boolean`);
}

function setValue(values: Map<string, Value>, flag: FlagSpec, raw: string): void {
  switch (flag.kind) {
    case "bool":
      values.set(flag.name, parseBool(flag, raw));
      return;
    case "string":
      values.set(flag.name, raw);
      return;
    case "list":
      values.set(flag.name, [...((values.get(flag.name) as string[] | undefined) ?? []), raw]);
      return;
    case "int":
      if (!/^-?\d+$/.test(raw) || !Number.isSafeInteger(Number(raw))) {
        throw new UsageError(
          `invalid argument "${raw}" for "${flagLabel(flag)}" flag: not an integer`,
        );
      }
      values.set(flag.name, Number(raw));
  }
}

function plural(n: number): string {
  return n === 1 ? "1 argument" : `${n} arguments`;
}

/** Checks the positional count, with docker's wording. */
function checkArgCount(command: string, spec: CommandSpec, args: string[]): void {
  const range = spec.args;
  if (!range) return;
  const { min, max } = range;
  if (max === 0 && args.length > 0) throw new UsageError(`"polis ${command}" accepts no arguments`);
  if (max !== undefined && min === max && args.length !== min) {
    throw new UsageError(`"polis ${command}" requires exactly ${plural(min)}`);
  }
  if (args.length < min) {
    throw new UsageError(`"polis ${command}" requires at least ${plural(min)}`);
  }
  if (max !== undefined && args.length > max) {
    throw new UsageError(`"polis ${command}" accepts at most ${plural(max)}`);
  }
}

/**
 * Parses `argv` (the words after the command name) against `spec`.
 * `command` names the command in argument-count errors ("rm", "image inspect").
 * Throws `UsageError` with a one-line message.
 */
export function parseArgs(spec: CommandSpec, argv: string[], command = ""): ParsedArgs {
  const values = new Map<string, Value>();
  const args: string[] = [];
  let help = false;
  const longs = new Map(spec.flags.map((f) => [f.name, f]));
  const shorts = new Map(spec.flags.filter((f) => f.short).map((f) => [f.short!, f]));
  const hHelps = shortHelp(spec);

  for (let i = 0; i < argv.length; i++) {
    const word = argv[i];
    if (word === "--") {
      args.push(...argv.slice(i + 1));
      break;
    }
    if (word.startsWith("--")) {
      const eq = word.indexOf("=");
      const name = eq < 0 ? word.slice(2) : word.slice(2, eq);
      const inline = eq < 0 ? undefined : word.slice(eq + 1);
      if (name === "help") {
        help = inline === undefined || parseBool({ name, kind: "bool", help: "" }, inline);
        continue;
      }
      const flag = longs.get(name);
      if (!flag) throw new UsageError(`unknown flag: --${name}`);
      if (flag.kind === "bool") {
        values.set(name, inline === undefined ? true : parseBool(flag, inline));
        continue;
      }
      const raw = inline ?? argv[++i];
      if (raw === undefined) throw new UsageError(`flag needs an argument: --${name}`);
      setValue(values, flag, raw);
      continue;
    }
    if (word.startsWith("-") && word.length > 1) {
      for (let j = 1; j < word.length; j++) {
        const ch = word[j];
        if (ch === "h" && hHelps) {
          help = true;
          continue;
        }
        const flag = shorts.get(ch);
        if (!flag) throw new UsageError(`unknown shorthand flag: '${ch}' in ${word}`);
        if (flag.kind === "bool") {
          if (word[j + 1] === "=") {
            values.set(flag.name, parseBool(flag, word.slice(j + 2)));
            break;
          }
          values.set(flag.name, true);
          continue;
        }
        let raw: string | undefined = word.slice(j + 1);
        if (raw.startsWith("=")) raw = raw.slice(1);
        else if (raw === "") raw = argv[++i];
        if (raw === undefined) throw new UsageError(`flag needs an argument: '${ch}' in -${ch}`);
        setValue(values, flag, raw);
        break;
      }
      continue;
    }
    args.push(word);
    if (spec.stopAtPositional) {
      args.push(...argv.slice(i + 1));
      break;
    }
  }

  if (!help) checkArgCount(command, spec, args);
  return new ParsedArgs(spec, values, args, help);
}
