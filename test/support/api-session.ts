// A logged-in user of the JSON API, as the web app is: the session cookie from a real login,
// the CSRF token from /api/me, and the Origin header a browser sends.
import { Browser, type TestBroker } from './broker.js';

export interface ApiSession {
  browser: Browser;
  csrf: string;
  get(path: string): Promise<{ status: number; body: any }>;
  post(path: string, json: unknown, options?: { csrf?: string | null; origin?: string | null }): Promise<{ status: number; body: any }>;
  /** Logs in again through /auth/login?reauth=1; the IdP may skip its form if it authenticated the user recently. */
  relogin(): Promise<void>;
}

export async function apiSession(t: TestBroker, username: string): Promise<ApiSession> {
  const browser = new Browser();
  await t.login(browser, username);
  const parse = (body: string) => (body ? JSON.parse(body) : null);
  const session: ApiSession = {
    browser,
    csrf: '',
    async get(path) {
      const hop = await browser.request(`${t.url}${path}`, { headers: { accept: 'application/json' } });
      return { status: hop.status, body: parse(hop.body) };
    },
    async post(path, json, options = {}) {
      const headers: Record<string, string> = { accept: 'application/json' };
      const csrf = options.csrf === undefined ? session.csrf : options.csrf;
      if (csrf !== null) headers['x-csrf-token'] = csrf;
      const origin = options.origin === undefined ? t.url : options.origin;
      if (origin !== null) headers.origin = origin;
      const hop = await browser.request(`${t.url}${path}`, { method: 'POST', json, headers });
      return { status: hop.status, body: parse(hop.body) };
    },
    async relogin() {
      await t.login(browser, username, { reauth: true, allowSilent: true });
      session.csrf = (await session.get('/api/me')).body.csrfToken;
    },
  };
  session.csrf = (await session.get('/api/me')).body.csrfToken;
  return session;
}
