/**
 * Where the CLI reads and writes: the real terminal, or buffers in tests. Commands never
 * touch `Deno.stdout`, `Deno.env` or the clock directly.
 * @module
 */

export interface Output {
  write(text: string | Uint8Array): Promise<void>;
}

export interface CliIO {
  stdout: Output;
  stderr: Output;
  stdin(): ReadableStream<Uint8Array>;
  stdinIsTerminal(): boolean;
  /** Whether stdout is a terminal (progress bars redraw in place); absent means no. */
  stdoutIsTerminal?(): boolean;
  env(name: string): string | undefined;
  /** Milliseconds since the epoch. */
  now(): number;
  /**
   * Calls `handler` on each of `signals` until the returned function is called.
   * Absent in tests: nothing is forwarded.
   */
  onSignals?(signals: Deno.Signal[], handler: (signal: Deno.Signal) => void): () => void;
}

const encoder = new TextEncoder();

function fileOutput(file: { write(p: Uint8Array): Promise<number> }): Output {
  return {
    async write(text) {
      let bytes = typeof text === "string" ? encoder.encode(text) : text;
      while (bytes.length > 0) bytes = bytes.subarray(await file.write(bytes));
    },
  };
}

/** The process's own stdio, environment, clock and signals. */
export function denoIO(): CliIO {
  return {
    stdout: fileOutput(Deno.stdout),
    stderr: fileOutput(Deno.stderr),
    stdin: () => Deno.stdin.readable,
    stdinIsTerminal: () => Deno.stdin.isTerminal(),
    stdoutIsTerminal: () => Deno.stdout.isTerminal(),
    env: (name) => {
      try {
        return Deno.env.get(name);
      } catch {
        return undefined; // no --allow-env: behave as if unset
      }
    },
    now: () => Date.now(),
    onSignals(signals, handler) {
      const listeners = signals.map((sig) => {
        const fn = () => handler(sig);
        Deno.addSignalListener(sig, fn);
        return [sig, fn] as const;
      });
      return () => {
        for (const [sig, fn] of listeners) Deno.removeSignalListener(sig, fn);
      };
    },
  };
}

/** An IO that records output, for tests. */
export interface CapturedIO extends CliIO {
  out(): string;
  err(): string;
}

export function captureIO(
  opts: { env?: Record<string, string>; stdin?: Uint8Array; now?: number } = {},
): CapturedIO {
  const decoder = new TextDecoder();
  let out = "";
  let err = "";
  const sink = (append: (s: string) => void): Output => ({
    write(text) {
      append(typeof text === "string" ? text : decoder.decode(text));
      return Promise.resolve();
    },
  });
  return {
    stdout: sink((s) => (out += s)),
    stderr: sink((s) => (err += s)),
    stdin: () =>
      new ReadableStream({
        start(c) {
          if (opts.stdin) c.enqueue(opts.stdin);
          c.close();
        },
      }),
    stdinIsTerminal: () => opts.stdin === undefined,
    env: (name) => opts.env?.[name],
    now: () => opts.now ?? Date.now(),
    out: () => out,
    err: () => err,
  };
}
