// `sallyport admin …`: the shell's way to the broker's operations — list live sessions, terminate
// one, revoke a grant, read and follow the audit log. It is a client of the broker's own JSON API
// and decides nothing: the admin logs in like anyone else (`admin login`: a link and a code,
// confirmed in a browser logged in through the IdP), and the access layer allows or refuses each
// call exactly as for the web app. The login is a bearer token kept in a file only its owner may
// read, ending when the confirming browser login would have ended.
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { ERROR_CODES, SallyportError, type ErrorCode } from './errors.js';
import { PACKAGE_VERSION } from './paths.js';

export const ADMIN_USAGE = `  admin login [--url URL] [--scope admin|full]
                        log the shell in: open the link it prints, check the code, confirm
                        (URL: the broker's public URL; default SALLYPORT_URL). The login may
                        use these admin and audit commands only, unless --scope full; it ends
                        with the browser login that confirmed it
  admin logout          end this shell's login
  admin whoami          who this shell is logged in as, and the roles that gives
  admin sessions        live consoles on every broker (admin role)
  admin terminate ID --reason TEXT
                        end a live console; its user sees the reason (admin role)
  admin revoke ID --reason TEXT
                        revoke an access grant (by its request id); its consoles end
  admin hold ID --reason TEXT
                        place a legal hold on a session's recording: retention keeps it
                        until released (auditor or admin role)
  admin release-hold ID --reason TEXT
                        release it (auditor or admin role)
  admin audit [--action PREFIX] [--subject ID] [--follow]
                        the audit log, oldest first (auditor or admin role);
                        --follow keeps printing new events
                        (every command takes --json for machine-readable output)
`;

interface Credentials {
  url: string;
  token: string;
  username: string;
  expiresAt: string;
}

/** Where the login is kept: SALLYPORT_CREDENTIALS, else the XDG config directory. */
function credentialsPath(env: NodeJS.ProcessEnv): string {
  if (env.SALLYPORT_CREDENTIALS) return env.SALLYPORT_CREDENTIALS;
  return join(env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'sallyport', 'credentials.json');
}

function readCredentials(env: NodeJS.ProcessEnv): Credentials | undefined {
  try {
    return JSON.parse(readFileSync(credentialsPath(env), 'utf8')) as Credentials;
  } catch {
    return undefined;
  }
}

function brokerUrl(given: string | undefined, env: NodeJS.ProcessEnv, saved: Credentials | undefined): string {
  const raw = given ?? env.SALLYPORT_URL ?? saved?.url;
  if (!raw) throw new SallyportError('BAD_REQUEST', 'which broker? give --url https://sallyport.example.com (or set SALLYPORT_URL)');
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new SallyportError('BAD_REQUEST', `--url: ${raw} is not a URL`);
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname))) {
    throw new SallyportError('BAD_REQUEST', `--url: ${url.origin} is plain http; only a loopback broker may be reached without TLS (the login token would travel in clear)`);
  }
  return url.origin;
}

/** One API call; an error answer becomes the broker's own one-line message. */
async function call<T>(url: string, path: string, init: { method?: string; body?: unknown; token?: string } = {}): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (init.token) headers.authorization = `Bearer ${init.token}`;
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(`${url}${path}`, { method: init.method ?? (init.body === undefined ? 'GET' : 'POST'), headers, body: init.body === undefined ? undefined : JSON.stringify(init.body) });
  } catch (err) {
    throw new SallyportError('BROKER_UNREACHABLE', `cannot reach ${url}: ${(err as Error & { cause?: Error }).cause?.message ?? (err as Error).message}`);
  }
  const text = await res.text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    throw new SallyportError('BROKER_UNREACHABLE', `${url}${path} answered ${res.status} with something that is not JSON: is it a Sallyport broker?`);
  }
  if (res.ok) return body as T;
  const e = (body as { error?: { code?: string; message?: string; problems?: Array<{ field: string; message: string }> } } | null)?.error;
  if (res.status === 401) throw new SallyportError('UNAUTHENTICATED', `not logged in to ${url} (or the login ended): run sallyport admin login`);
  // The broker's own code and words, so the shell reads what the web app would have said.
  const code = ERROR_CODES.includes(e?.code as ErrorCode) ? (e!.code as ErrorCode) : 'INTERNAL';
  throw new SallyportError(code, e?.message ?? `HTTP ${res.status}`, { problems: e?.problems });
}

const table = (rows: string[][]): string => {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n') + '\n';
};

interface AuditEvent {
  seq: string;
  at: string;
  actor: string;
  action: string;
  subject: string | null;
  details: Record<string, unknown>;
}

export async function adminCommand(args: string[], env: NodeJS.ProcessEnv, out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      url: { type: 'string' },
      reason: { type: 'string' },
      action: { type: 'string' },
      subject: { type: 'string' },
      follow: { type: 'boolean' },
      json: { type: 'boolean' },
      interval: { type: 'string' },
      scope: { type: 'string' },
    },
  });
  const [sub, id, ...extra] = positionals;
  if (extra.length > 0) throw new SallyportError('BAD_REQUEST', `unexpected argument ${extra[0]}`);
  const saved = readCredentials(env);
  const print = (human: string, json: unknown) => out.write(values.json ? `${JSON.stringify(json)}\n` : human);

  if (sub === 'login') {
    const url = brokerUrl(values.url, env, saved);
    const scope = values.scope ?? 'admin';
    if (scope !== 'admin' && scope !== 'full') throw new SallyportError('BAD_REQUEST', '--scope must be admin (the admin and audit commands) or full (everything you may do)');
    const start = await call<{ url: string; code: string; pollSecret: string; expiresAt: string }>(url, '/api/cli-logins', {
      body: { client: `sallyport/${PACKAGE_VERSION} on ${hostname().replace(/[^ -~]/g, '?').slice(0, 60)}`, scope },
    });
    err.write(`To log in, open this link in a browser and check that it shows the code ${start.code}:\n\n  ${start.url}\n\nWaiting until ${new Date(start.expiresAt).toLocaleTimeString()}…\n`);
    const every = Math.max(50, Number(values.interval ?? 1000));
    for (;;) {
      const p = await call<{ state: 'waiting' } | { state: 'confirmed'; token: string; username: string; expiresAt: string }>(url, '/api/cli-logins/poll', { body: { pollSecret: start.pollSecret } });
      if (p.state === 'confirmed') {
        const path = credentialsPath(env);
        mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
        writeFileSync(path, `${JSON.stringify({ url, token: p.token, username: p.username, expiresAt: p.expiresAt } satisfies Credentials)}\n`, { mode: 0o600 });
        chmodSync(path, 0o600);
        print(`Logged in to ${url} as ${p.username} until ${new Date(p.expiresAt).toLocaleString()}.\n`, { url, username: p.username, expiresAt: p.expiresAt });
        return 0;
      }
      await new Promise((r) => setTimeout(r, every));
    }
  }

  // Everything else speaks for the saved login.
  if (!saved) throw new SallyportError('UNAUTHENTICATED', 'not logged in: run sallyport admin login --url https://your-broker');
  const url = brokerUrl(values.url, env, saved);
  const as = { token: saved.token };
  switch (sub) {
    case 'logout': {
      await call(url, '/api/logout', { ...as, body: {} }).catch((e: unknown) => {
        if ((e as SallyportError).code !== 'UNAUTHENTICATED') throw e;
      });
      rmSync(credentialsPath(env), { force: true });
      print(`Logged out of ${url}.\n`, { url, loggedOut: saved.username });
      return 0;
    }
    case 'whoami': {
      const me = await call<{ user: { username: string; roles: string[]; groups: string[] } }>(url, '/api/me', as);
      print(`${me.user.username} on ${url} (roles: ${me.user.roles.join(', ') || 'none'}; login until ${new Date(saved.expiresAt).toLocaleString()})\n`, { url, ...me.user, expiresAt: saved.expiresAt });
      return 0;
    }
    case 'sessions': {
      const { sessions } = await call<{ sessions: Array<{ id: string; username: string; target: string; via: string; node: string; broker: string; startedAt: string; watchers: string[] }> }>(url, '/api/live', as);
      const rows = [['ID', 'USER', 'TARGET', 'VIA', 'WHERE', 'STARTED', 'WATCHED BY'], ...sessions.map((s) => [s.id, s.username, s.target, s.via, s.node || s.broker, new Date(s.startedAt).toISOString(), s.watchers.join(',')])];
      print(sessions.length ? table(rows) : 'No live consoles.\n', sessions);
      return 0;
    }
    case 'terminate':
    case 'revoke': {
      if (!id) throw new SallyportError('BAD_REQUEST', `admin ${sub} needs the ${sub === 'terminate' ? 'session' : 'request'} id`);
      if (!/^[0-9a-f-]{36}$/.test(id)) throw new SallyportError('BAD_REQUEST', `${id} is not a session or request id (a UUID)`);
      if (!values.reason?.trim()) throw new SallyportError('BAD_REQUEST', `admin ${sub} needs --reason: the user is told why`);
      const path = sub === 'terminate' ? `/api/sessions/${id}/terminate` : `/api/access-requests/${id}/revoke`;
      await call(url, path, { ...as, body: { reason: values.reason } });
      print(sub === 'terminate' ? `Terminated ${id}.\n` : `Revoked ${id}.\n`, { [sub === 'terminate' ? 'terminated' : 'revoked']: id });
      return 0;
    }
    case 'hold':
    case 'release-hold': {
      if (!id || !/^[0-9a-f-]{36}$/.test(id)) throw new SallyportError('BAD_REQUEST', `admin ${sub} needs the session id (a UUID)`);
      if (!values.reason?.trim()) throw new SallyportError('BAD_REQUEST', `admin ${sub} needs --reason: the audit log records why (a matter reference, say)`);
      if (sub === 'hold') {
        const h = await call<{ heldBy: string; heldSince: string }>(url, `/api/sessions/${id}/hold`, { ...as, body: { reason: values.reason } });
        print(`Held ${id}: retention keeps its recording until the hold is released.\n`, { held: id, ...h });
      } else {
        await call(url, `/api/sessions/${id}/hold/release`, { ...as, body: { reason: values.reason } });
        print(`Released the hold on ${id}.\n`, { released: id });
      }
      return 0;
    }
    case 'audit': {
      const query = (extraParams: Record<string, string>) => {
        const q = new URLSearchParams(extraParams);
        if (values.action) q.set('action', values.action);
        if (values.subject) q.set('subject', values.subject);
        return `/api/audit?${q}`;
      };
      const line = (e: AuditEvent) =>
        values.json ? `${JSON.stringify(e)}\n` : `${e.seq.padStart(6)}  ${e.at}  ${e.actor}  ${e.action}${e.subject ? `  ${e.subject}` : ''}  ${JSON.stringify(e.details)}\n`;
      // The newest page, printed oldest first; then, following, what comes after it.
      const { events } = await call<{ events: AuditEvent[] }>(url, query({}), as);
      for (const e of [...events].reverse()) out.write(line(e));
      if (!values.follow) return 0;
      let last = events[0]?.seq ?? '0';
      const every = Math.max(50, Number(values.interval ?? 2000));
      for (;;) {
        await new Promise((r) => setTimeout(r, every));
        const next = await call<{ events: AuditEvent[] }>(url, query({ after: last }), as);
        for (const e of next.events) out.write(line(e));
        last = next.events.at(-1)?.seq ?? last;
      }
    }
    default:
      throw new SallyportError('BAD_REQUEST', sub ? `unknown admin command ${sub}` : 'admin needs a command: login, logout, whoami, sessions, terminate, revoke, hold, release-hold, audit');
  }
}
