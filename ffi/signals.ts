/**
 * Signal numbers (identical on x86_64 and aarch64) and name parsing.
 * @module
 */

export const SIGNALS: Readonly<Record<string, number>> = Object.freeze({
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGILL: 4,
  SIGTRAP: 5,
  SIGABRT: 6,
  SIGIOT: 6,
  SIGBUS: 7,
  SIGFPE: 8,
  SIGKILL: 9,
  SIGUSR1: 10,
  SIGSEGV: 11,
  SIGUSR2: 12,
  SIGPIPE: 13,
  SIGALRM: 14,
  SIGTERM: 15,
  SIGSTKFLT: 16,
  SIGCHLD: 17,
  SIGCLD: 17,
  SIGCONT: 18,
  SIGSTOP: 19,
  SIGTSTP: 20,
  SIGTTIN: 21,
  SIGTTOU: 22,
  SIGURG: 23,
  SIGXCPU: 24,
  SIGXFSZ: 25,
  SIGVTALRM: 26,
  SIGPROF: 27,
  SIGWINCH: 28,
  SIGIO: 29,
  SIGPOLL: 29,
  SIGPWR: 30,
  SIGSYS: 31,
});

/** glibc's SIGRTMIN/SIGRTMAX (the kernel's 32 and 33 are reserved by glibc). */
export const SIGRTMIN = 34;
export const SIGRTMAX = 64;

const NAMES = new Map<number, string>();
for (const [name, n] of Object.entries(SIGNALS)) if (!NAMES.has(n)) NAMES.set(n, name);

/** "SIGTERM" for 15, "SIGRTMIN+2" for 36, `SIG<n>` otherwise. */
export function signalName(n: number): string {
  const name = NAMES.get(n);
  if (name) return name;
  if (n === SIGRTMIN) return "SIGRTMIN";
  if (n === SIGRTMAX) return "SIGRTMAX";
  if (n > SIGRTMIN && n < SIGRTMAX) return `SIGRTMIN+${n - SIGRTMIN}`;
  return `SIG${n}`;
}

/**
 * Parses "SIGTERM", "TERM", "term", "15", 15, "RTMIN+3", "SIGRTMAX-1".
 * Returns undefined for anything that is not a valid signal 1..64.
 */
export function signalNumber(s: string | number): number | undefined {
  if (typeof s === "number") return Number.isInteger(s) && s >= 1 && s <= SIGRTMAX ? s : undefined;
  const t = s.trim();
  if (/^\d+$/.test(t)) return signalNumber(Number(t));
  const up = t.toUpperCase();
  const name = up.startsWith("SIG") ? up : `SIG${up}`;
  if (name in SIGNALS) return SIGNALS[name];
  const rt = /^SIGRT(MIN|MAX)(?:([+-])(\d+))?$/.exec(name);
  if (!rt) return undefined;
  const base = rt[1] === "MIN" ? SIGRTMIN : SIGRTMAX;
  const off = rt[3] === undefined ? 0 : Number(rt[3]) * (rt[2] === "-" ? -1 : 1);
  const n = base + off;
  return n >= SIGRTMIN && n <= SIGRTMAX ? n : undefined;
}
