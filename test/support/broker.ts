// A production-mode broker for integration tests: real PostgreSQL (fresh database), a real
// OpenID Provider (oidc-provider, through the same module dev mode uses) and the broker
// listening on loopback. `tamperIdToken` rewrites the provider's token response, which is how
// the tests play a hostile or broken IdP without replacing the real one.
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import { loadConfig, type Config } from '../../server/config/index.js';
import { DEMO_USERS, freePort, startDevIdp, type DevIdp, type DevUser } from '../../server/dev/index.js';
import { startBroker, type Broker } from '../../server/main.js';
import { Browser, type Hop } from './http-client.js';
import { freshDatabase, type TestDatabase } from './postgres.js';
import { testSigningKey } from './signing-key.js';

export const FIXTURES = join(import.meta.dirname, '..', 'fixtures');

export interface TestBroker {
  broker: Broker;
  config: Config;
  idp: DevIdp;
  db: TestDatabase;
  users: DevUser[];
  signingKey: { private: CryptoKey; jwk: JWK };
  url: string;
  /** Rewrites the id_token of the next token responses; undefined stops tampering. */
  tamperIdToken(fn: ((idToken: string) => Promise<string> | string) | undefined): void;
  login(browser: Browser, username: string, options?: LoginOptions): Promise<LoginResult>;
  close(): Promise<void>;
}

export interface LoginOptions {
  returnTo?: string;
  /** Change the callback URL the IdP sends the browser to, before following it. */
  editCallback?: (url: URL) => URL;
  password?: string;
  /** Start with /auth/login?reauth=1 (a step-up login with max_age). */
  reauth?: boolean;
  /** An IdP session may answer without its login form (a silent login) — accept that. */
  allowSilent?: boolean;
  /** Called with the IdP authorization URL the broker redirected to. */
  onAuthorize?: (url: URL) => void;
}

export interface LoginResult {
  final: Hop;
  callbackUrl: URL;
  callback: Hop;
}

export async function startTestBroker(overrides: Record<string, string> = {}, options: { database?: TestDatabase } = {}): Promise<TestBroker> {
  const db = options.database ?? (await freshDatabase());
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), kid: 'test-1', alg: 'RS256', use: 'sig' } as JWK;
  const users = DEMO_USERS.map((u) => ({ ...u, groups: [...u.groups], password: `pw-${u.username}-${randomBytes(4).toString('hex')}` }));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const clientSecret = randomBytes(24).toString('base64url');
  const idp = await startDevIdp({
    host: '127.0.0.1',
    port: 0,
    brokerUrl: url,
    clientId: 'sallyport-test',
    clientSecret,
    users,
    signingKey: jwk,
    cookieKeys: [randomBytes(16).toString('hex')],
  });
  let tamper: ((t: string) => Promise<string> | string) | undefined;
  idp.provider.use(async (ctx, next) => {
    await next();
    if (tamper && ctx.path === '/token' && ctx.body && typeof (ctx.body as { id_token?: string }).id_token === 'string') {
      const body = ctx.body as { id_token: string };
      ctx.body = { ...body, id_token: await tamper(body.id_token) };
    }
  });
  const env = {
    DATABASE_URL: db.url,
    HOST: '127.0.0.1',
    PORT: String(port),
    SALLYPORT_PUBLIC_URL: url,
    SALLYPORT_OIDC_ISSUER: idp.issuer,
    SALLYPORT_OIDC_CLIENT_ID: 'sallyport-test',
    SALLYPORT_OIDC_CLIENT_SECRET: clientSecret,
    SALLYPORT_SESSION_SECRET: randomBytes(32).toString('hex'),
    SALLYPORT_SIGNING_KEY: testSigningKey(),
    // Each test broker remembers its last checkpoint outside the database, as production does.
    SALLYPORT_CHECKPOINT_STATE: join(mkdtempSync(join(tmpdir(), 'sallyport-ckpt-')), 'checkpoint-state.json'),
    SALLYPORT_CATALOG: join(FIXTURES, 'catalog.yaml'),
    SALLYPORT_LOG_LEVEL: 'warn',
    // A closed socket ends its console at once, as before reattaching existed: most tests close
    // one to be done with it. The reattach tests (test/console-reattach.test.ts) set a grace.
    SALLYPORT_REATTACH_SECONDS: '0',
    BILLING_DATABASE_URL: 'postgres://billing.internal/billing',
    ...overrides,
  };
  const config = loadConfig(env, 'production');
  let broker: Broker;
  try {
    broker = await startBroker(config, { env });
  } catch (err) {
    await idp.close();
    if (!options.database) await db.drop();
    throw err;
  }

  const login: TestBroker['login'] = async (browser, username, opts = {}) => {
    const query = new URLSearchParams();
    if (opts.returnTo !== undefined) query.set('returnTo', opts.returnTo);
    if (opts.reauth) query.set('reauth', '1');
    const start = `${url}/auth/login${query.size ? `?${query}` : ''}`;
    // Broker → IdP authorization endpoint → login form.
    const toForm = await browser.follow(start);
    const authorize = toForm.hops.find((h) => h.url.startsWith(idp.issuer));
    if (authorize) opts.onAuthorize?.(new URL(authorize.url));
    const silent = toForm.hops.find((h) => h.url.startsWith(`${url}/auth/callback`));
    if (opts.allowSilent && silent) return { final: toForm.hop, callbackUrl: new URL(silent.url), callback: silent };
    if (toForm.hop.status !== 200 || !toForm.hop.url.includes('/interaction/')) {
      throw new Error(`expected the IdP login form, got ${toForm.hop.status} at ${toForm.hop.url}: ${toForm.hop.body.slice(0, 300)}`);
    }
    const user = users.find((u) => u.username === username);
    const posted = await browser.request(toForm.hop.url, {
      form: { username, password: opts.password ?? user?.password ?? 'nope' },
    });
    if (posted.status === 401) throw new Error('IdP refused the password');
    // IdP resume → … → redirect to the broker's callback; stop there so tests can edit it.
    const toCallback = await browser.follow(new URL(posted.headers.get('location')!, posted.url).href, {
      stop: (next) => next.origin === url && next.pathname === '/auth/callback',
    });
    if (!toCallback.stoppedAt) throw new Error(`IdP did not redirect to the broker: ${toCallback.hop.status} ${toCallback.hop.body.slice(0, 300)}`);
    const callbackUrl = opts.editCallback ? opts.editCallback(new URL(toCallback.stoppedAt)) : toCallback.stoppedAt;
    const callback = await browser.request(callbackUrl.href);
    let final = callback;
    const loc = callback.headers.get('location');
    if (callback.status === 303 && loc && new URL(loc, url).origin === url) {
      final = (await browser.follow(new URL(loc, url).href)).hop;
    }
    return { final, callbackUrl, callback };
  };

  return {
    broker,
    config,
    idp,
    db,
    users,
    signingKey: { private: privateKey, jwk },
    url,
    tamperIdToken: (fn) => {
      tamper = fn;
    },
    login,
    async close() {
      await broker.close();
      await idp.close();
      if (!options.database) await db.drop();
    },
  };
}

export { Browser };
