// Reading the environment: one reader per load collects every problem (so all are reported
// together), reads NAME_FILE for secrets, and parses integers, durations, lists and URLs.
import { readFileSync } from 'node:fs';
import { SallyportError, type FieldProblem } from '../errors.js';

export type Env = Readonly<Record<string, string | undefined>>;

/** Variables whose value may instead be read from the file named by NAME_FILE. */
export const FILE_CAPABLE = [
  'DATABASE_URL',
  'SALLYPORT_OIDC_CLIENT_SECRET',
  'SALLYPORT_SESSION_SECRET',
  // Slack incoming-webhook URLs are bearer secrets.
  'SALLYPORT_WEBHOOK_URL',
  'SALLYPORT_SIGNING_KEY',
  'SALLYPORT_SIGNING_PREVIOUS_KEYS',
  'SALLYPORT_SSH_CA_KEY',
  'SALLYPORT_SSH_CA_PREVIOUS_KEYS',
  'SALLYPORT_SSH_HOST_KEY',
  'SALLYPORT_S3_SECRET_ACCESS_KEY',
] as const;

export interface Reader {
  read(name: string): string | undefined;
  required(name: string): string;
  integer(name: string, fallback: number, min: number, max: number): number;
  duration(name: string, fallback: number): number;
  list(name: string, fallback: string[]): string[];
  url(name: string, value: string, opts: { allowHttp: boolean; allowQuery?: boolean; secret?: boolean }): URL | undefined;
  bad(field: string, message: string): void;
  /** Throws CONFIG_INVALID naming every problem found so far, if any. */
  check(): void;
}

export function createReader(env: Env): Reader {
  const problems: FieldProblem[] = [];
  const bad = (field: string, message: string) => problems.push({ field, message });

  const read = (name: string): string | undefined => {
    const direct = env[name];
    const fileName = (FILE_CAPABLE as readonly string[]).includes(name) ? env[`${name}_FILE`] : undefined;
    if (direct !== undefined && direct !== '' && fileName) {
      bad(name, `set both ${name} and ${name}_FILE; set only one`);
      return undefined;
    }
    if (fileName) {
      try {
        return readFileSync(fileName, 'utf8').trim();
      } catch (err) {
        bad(`${name}_FILE`, `cannot read ${fileName}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
        return undefined;
      }
    }
    return direct === '' ? undefined : direct;
  };
  const required = (name: string): string => {
    const v = read(name);
    // An unreadable NAME_FILE was said already: one problem, not a second "is required".
    if (v === undefined && !problems.some((p) => p.field === name || p.field === `${name}_FILE`)) {
      const alt = (FILE_CAPABLE as readonly string[]).includes(name) ? ` (or ${name}_FILE)` : '';
      bad(name, `is required${alt}`);
    }
    return v ?? '';
  };
  const integer = (name: string, fallback: number, min: number, max: number): number => {
    const v = read(name);
    if (v === undefined) return fallback;
    if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) {
      bad(name, `must be an integer from ${min} to ${max}, got "${v}"`);
      return fallback;
    }
    return Number(v);
  };
  const duration = (name: string, fallback: number): number => {
    const v = read(name);
    if (v === undefined) return fallback;
    const seconds = parseDuration(v);
    if (seconds === undefined || seconds <= 0) {
      bad(name, `must be a duration like 90s, 30m or 12h, got "${v}"`);
      return fallback;
    }
    return seconds;
  };
  const list = (name: string, fallback: string[]): string[] => {
    const v = read(name);
    if (v === undefined) return fallback;
    const items = v.split(',').map((s) => s.trim()).filter(Boolean);
    if (items.length === 0) bad(name, 'must list at least one value (comma-separated)');
    return items;
  };
  const url = (name: string, value: string, opts: { allowHttp: boolean; allowQuery?: boolean; secret?: boolean }): URL | undefined => {
    if (value === '') return undefined;
    let parsed: URL;
    try {
      parsed = new URL(value);
    } catch {
      bad(name, opts.secret ? 'must be an absolute URL' : `must be an absolute URL, got "${value}"`);
      return undefined;
    }
    if (parsed.protocol !== 'https:' && !(parsed.protocol === 'http:' && (opts.allowHttp || isLoopback(parsed.hostname)))) {
      bad(name, `must use https (plain http only for loopback addresses), got "${parsed.protocol}"`);
    }
    if (parsed.username || parsed.password || (parsed.search && !opts.allowQuery) || parsed.hash) {
      bad(name, opts.allowQuery ? 'must not contain credentials or a fragment' : 'must not contain credentials, a query or a fragment');
    }
    return parsed;
  };

  return {
    read,
    required,
    integer,
    duration,
    list,
    url,
    bad,
    check() {
      if (problems.length > 0) {
        throw new SallyportError('CONFIG_INVALID', `configuration is invalid (${problems.length} problem${problems.length === 1 ? '' : 's'}):`, { problems });
      }
    },
  };
}

export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** "90s" | "30m" | "12h" | "7d" | plain seconds → seconds. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+)\s*(s|m|h|d)?$/.exec(text.trim());
  if (!m) return undefined;
  const unit = { s: 1, m: 60, h: 3600, d: 86400 }[(m[2] ?? 's') as 's' | 'm' | 'h' | 'd'];
  return Number(m[1]) * unit;
}

export function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || hostname === '::1' || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}
