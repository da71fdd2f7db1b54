/**
 * Registry authentication pieces that need no network: parsing of `WWW-Authenticate`
 * challenges (RFC 7235 auth-params, quoted strings with escapes), credentials, and a
 * cache of Bearer tokens keyed by realm, service and scope with their expiry.
 * @module
 */

export interface Challenge {
  /** Lower case: "bearer", "basic". */
  scheme: string;
  params: Record<string, string>;
}

export interface Credentials {
  username: string;
  password: string;
}

/**
 * Parses a `WWW-Authenticate` header into challenges, e.g.
 * `Bearer realm="https://auth.example/token",service="reg",scope="repository:a:pull"`.
 */
export function parseChallenges(header: string): Challenge[] {
  // Split on commas outside quoted strings; each part is "scheme [param]" or "param".
  const parts: string[] = [];
  let cur = "";
  let quoted = false;
  for (let i = 0; i < header.length; i++) {
    const c = header[i];
    if (quoted && c === "\\" && i + 1 < header.length) {
      cur += c + header[++i];
      continue;
    }
    if (c === '"') quoted = !quoted;
    if (c === "," && !quoted) {
      parts.push(cur);
      cur = "";
    } else {
      cur += c;
    }
  }
  parts.push(cur);
  const out: Challenge[] = [];
  for (const raw of parts) {
    let part = raw.trim();
    if (!part) continue;
    const scheme = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+)(?:\s+|$)/.exec(part);
    if (scheme && !/^[^=\s]+\s*=/.test(part)) {
      out.push({ scheme: scheme[1].toLowerCase(), params: {} });
      part = part.slice(scheme[0].length);
      if (!part) continue;
    }
    const current = out.at(-1);
    const param = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+)\s*=\s*(.*)$/s.exec(part);
    if (!current || !param) continue; // a token68 or junk: not needed here
    let value = param[2].trim();
    if (value.startsWith('"')) {
      value = value.slice(1, value.endsWith('"') && value.length > 1 ? -1 : undefined)
        .replace(/\\(.)/g, "$1");
    }
    current.params[param[1].toLowerCase()] = value;
  }
  return out;
}

export function basicAuthorization(c: Credentials): string {
  const bytes = new TextEncoder().encode(`${c.username}:${c.password}`);
  return `Basic ${btoa(String.fromCharCode(...bytes))}`;
}

/** Bearer tokens by realm, service and scope, until shortly before they expire. */
export class TokenCache {
  readonly #tokens = new Map<string, { token: string; until: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  static key(realm: string, service: string | undefined, scope: string): string {
    return `${realm}\n${service ?? ""}\n${scope}`;
  }

  get(key: string): string | undefined {
    const t = this.#tokens.get(key);
    if (!t) return undefined;
    if (t.until <= this.now()) {
      this.#tokens.delete(key);
      return undefined;
    }
    return t.token;
  }

  /** `expiresIn` in seconds; the spec's default is 60. Kept 10% (at most 30 s) less. */
  set(key: string, token: string, expiresIn = 60): void {
    const ttl = Math.max(1, expiresIn) * 1000;
    this.#tokens.set(key, { token, until: this.now() + ttl - Math.min(ttl * 0.1, 30_000) });
  }

  delete(key: string): void {
    this.#tokens.delete(key);
  }
}
