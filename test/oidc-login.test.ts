// OIDC login end to end against a real OpenID Provider, over HTTP, with the broker in
// production mode on real PostgreSQL: the happy path and every way a login must be refused.
import { createPublicKey } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser, startTestBroker, type TestBroker } from './support/broker.js';

let t: TestBroker;

beforeAll(async () => {
  t = await startTestBroker();
});
afterAll(async () => {
  await t?.close();
});

async function me(browser: Browser) {
  const res = await browser.request(`${t.url}/api/me`, { headers: { accept: 'application/json' } });
  return { status: res.status, body: JSON.parse(res.body) };
}

async function auditActions(): Promise<Array<{ action: string; details: Record<string, unknown> }>> {
  return (await t.broker.audit.list({ limit: 1000 })).map((e) => ({ action: e.action, details: e.details }));
}

/** Re-signs the provider's ID token with the provider's own key after changing claims. */
function resign(change: (claims: Record<string, unknown>) => void) {
  return async (idToken: string) => {
    const claims = decodeJwt(idToken) as Record<string, unknown>;
    change(claims);
    const header = decodeProtectedHeader(idToken);
    return new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: header.kid! }).sign(t.signingKey.private);
  };
}

async function expectRefused(result: { callback: { status: number; headers: Headers; body: string } }, browser: Browser, reason: RegExp) {
  expect(result.callback.status).toBe(401);
  expect(result.callback.body).toMatch(reason);
  expect(result.callback.headers.getSetCookie().some((c) => c.startsWith('sallyport='))).toBe(false);
  expect((await me(browser)).status).toBe(401);
}

/** Logs alice in while the IdP's ID token is rewritten by `tamper`; the login must fail. */
async function expectTamperedLoginRefused(tamper: (idToken: string) => Promise<string> | string, reason: RegExp) {
  t.tamperIdToken(tamper);
  try {
    const browser = new Browser();
    await expectRefused(await t.login(browser, 'alice'), browser, reason);
  } finally {
    t.tamperIdToken(undefined);
  }
}

describe('login succeeds', () => {
  it('lands alice on the page she asked for, with her roles and her targets', async () => {
    const browser = new Browser();
    const result = await t.login(browser, 'alice', { returnTo: '/' });
    expect(result.callback.status).toBe(303);
    expect(result.callback.headers.get('location')).toBe('/');
    expect(result.final.status).toBe(200);
    expect(result.final.body).toContain('<title>Sallyport</title>');

    const cookie = result.callback.headers.getSetCookie().find((c) => c.startsWith('sallyport='))!;
    expect(cookie).toMatch(/HttpOnly/i);
    expect(cookie).toMatch(/SameSite=Lax/i);

    const { status, body } = await me(browser);
    expect(status).toBe(200);
    expect(body.user).toMatchObject({ username: 'alice', roles: ['developer'], groups: ['developers'] });
    // billing-console allows developers; ops-shell is for the ops group only.
    expect(body.targets.map((x: { name: string }) => x.name)).toEqual(['billing-console']);
    expect(body.targets[0]).toMatchObject({ approvalRequired: true, command: ['bin/rails', 'console'] });

    const actions = await auditActions();
    expect(actions).toContainEqual({
      action: 'auth.login',
      details: { username: 'alice', groups: ['developers'], roles: ['developer'], stepUp: false, authTime: expect.stringMatching(/^\d{4}-/), clientAddress: '127.0.0.1' },
    });
  });

  it('keeps a login link it returns to unreadable in the database while the login is in flight', async () => {
    // A logged-out browser opening an SSH door's link: the path holds the link's token.
    const token = 'Tk9UQVJFQUxUT0tFTkJVVExPTkdFTk9V';
    const res = await new Browser().request(`${t.url}/auth/login?returnTo=${encodeURIComponent(`/ssh/${token}`)}`, { headers: { accept: 'text/html' } });
    expect(res.status).toBe(303);
    const stored = (await t.broker.db.query(`select return_to from oidc_logins`)).rows.map((r) => r.return_to as string);
    expect(stored.length).toBeGreaterThan(0);
    for (const r of stored) {
      expect(r).not.toContain(token);
      expect(r).toMatch(/^v1\./);
    }
    // The browser that started it still lands there.
    const landed = await t.login(new Browser(), 'alice', { returnTo: `/ssh/${token}` });
    expect(landed.callback.headers.get('location')).toBe(`/ssh/${token}`);
  });

  it('gives carol the auditor role and no console targets', async () => {
    const browser = new Browser();
    await t.login(browser, 'carol');
    const { body } = await me(browser);
    expect(body.user.roles).toEqual(['auditor']);
    expect(body.targets).toEqual([]);
  });

  it('logout ends the server-side session, needs CSRF, and sends the browser to the IdP end-session endpoint', async () => {
    const browser = new Browser();
    await t.login(browser, 'alice');
    const { body } = await me(browser);
    const stolenCookie = browser.cookies(t.url).get('sallyport')!;

    const noToken = await browser.request(`${t.url}/auth/logout`, { form: { csrf: '' }, headers: { origin: t.url } });
    expect(noToken.status).toBe(403);
    const crossSite = await browser.request(`${t.url}/auth/logout`, { form: { csrf: body.csrfToken }, headers: { origin: 'https://evil.example' } });
    expect(crossSite.status).toBe(403);
    expect((await me(browser)).status).toBe(200);

    const out = await browser.request(`${t.url}/auth/logout`, { form: { csrf: body.csrfToken }, headers: { origin: t.url } });
    expect(out.status).toBe(303);
    expect(out.headers.get('location')).toMatch(new RegExp(`^${t.idp.issuer}/session/end`));
    expect((await me(browser)).status).toBe(401);

    // The old cookie value is dead on the server, not just forgotten by this browser.
    const replay = new Browser();
    replay.cookies(t.url).set('sallyport', stolenCookie);
    expect((await me(replay)).status).toBe(401);
    expect((await auditActions()).some((a) => a.action === 'auth.logout')).toBe(true);
  });

  it('ends a session that was idle longer than the idle timeout', async () => {
    const browser = new Browser();
    await t.login(browser, 'alice');
    expect((await me(browser)).status).toBe(200);
    await t.broker.db.query(`update browser_sessions set last_seen_at = now() - interval '31 minutes' where ended_at is null`);
    expect((await me(browser)).status).toBe(401);
    const { rows } = await t.broker.db.query(`select count(*)::int as n from browser_sessions where end_reason = 'expired'`);
    expect(rows[0].n).toBeGreaterThan(0);
  });

  it('ends a session past its absolute lifetime even when in use', async () => {
    const browser = new Browser();
    await t.login(browser, 'alice');
    await t.broker.db.query(`update browser_sessions set expires_at = now() - interval '1 second' where ended_at is null`);
    expect((await me(browser)).status).toBe(401);
  });

  it('sends a logged-out visitor of the web app to login with a same-origin returnTo', async () => {
    const res = await new Browser().request(`${t.url}/`);
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/auth/login?returnTo=%2F');
    const api = await new Browser().request(`${t.url}/api/me`, { headers: { accept: 'application/json' } });
    expect(api.status).toBe(401);
    expect(JSON.parse(api.body).error.code).toBe('UNAUTHENTICATED');
  });
});

describe('login is refused', () => {
  it('when the state in the callback is wrong', async () => {
    const browser = new Browser();
    const r = await t.login(browser, 'alice', {
      editCallback: (u) => (u.searchParams.set('state', 'forged-state'), u),
    });
    await expectRefused(r, browser, /state/i);
  });

  it('when the state is missing from the callback', async () => {
    const browser = new Browser();
    const r = await t.login(browser, 'alice', { editCallback: (u) => (u.searchParams.delete('state'), u) });
    await expectRefused(r, browser, /state/i);
  });

  it('when a callback is replayed after it was used', async () => {
    const browser = new Browser();
    const bindingCookies: Array<[string, string]> = [];
    const first = await t.login(browser, 'alice', {
      editCallback: (u) => {
        bindingCookies.push(...browser.cookies(t.url));
        return u;
      },
    });
    expect(first.callback.status).toBe(303);
    const attacker = new Browser();
    for (const [k, v] of bindingCookies) attacker.cookies(t.url).set(k, v);
    const replay = await attacker.request(first.callbackUrl.href);
    expect(replay.status).toBe(401);
    expect(replay.body).toMatch(/already used|unknown/i);
    expect((await me(attacker)).status).toBe(401);
  });

  it('when the callback arrives in a browser that did not start the login (login CSRF)', async () => {
    const browser = new Browser();
    const r = await t.login(browser, 'alice', {
      editCallback: (u) => {
        browser.cookies(t.url).delete('sallyport_login');
        return u;
      },
    });
    await expectRefused(r, browser, /no login in progress/i);
  });

  it('when the ID token carries the wrong nonce', async () => {
    await expectTamperedLoginRefused(resign((c) => (c.nonce = 'not-the-nonce-we-sent')), /nonce/i);
  });

  it('when the ID token comes from another issuer', async () => {
    await expectTamperedLoginRefused(resign((c) => (c.iss = 'https://evil-idp.example')), /iss/i);
  });

  it('when the ID token is for another audience', async () => {
    await expectTamperedLoginRefused(resign((c) => (c.aud = 'some-other-client')), /aud/i);
  });

  it('when the ID token has expired', async () => {
    const expired = resign((c) => {
      const now = Math.floor(Date.now() / 1000);
      c.iat = now - 7200;
      c.exp = now - 3600;
    });
    await expectTamperedLoginRefused(expired, /exp/i);
  });

  it('when the ID token is unsigned (alg: none)', async () => {
    await expectTamperedLoginRefused((idToken) => {
      const [, payload] = idToken.split('.');
      return `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${payload}.`;
    }, /alg|signature|JWS/i);
  });

  it("when the ID token is HS256-signed with the IdP's public key (algorithm confusion)", async () => {
    const publicPem = createPublicKey({ key: t.signingKey.jwk as never, format: 'jwk' }).export({ type: 'spki', format: 'pem' });
    await expectTamperedLoginRefused(async (idToken) => {
      const claims = decodeJwt(idToken);
      return new SignJWT(claims).setProtectedHeader({ alg: 'HS256', kid: 'test-1' }).sign(Buffer.from(publicPem));
    }, /alg|HS256/i);
  });

  it('when returnTo points to another site', async () => {
    for (const returnTo of ['https://evil.example/', '//evil.example/x', '/\\evil.example', 'javascript:alert(1)', '/auth/logout', '/.//evil.example', '/a/..//evil.example/x']) {
      const res = await new Browser().request(`${t.url}/auth/login?returnTo=${encodeURIComponent(returnTo)}`, {
        headers: { accept: 'application/json' },
      });
      expect(res.status, returnTo).toBe(400);
      expect(JSON.parse(res.body).error.problems[0].field).toBe('returnTo');
      expect(res.headers.get('location')).toBeNull();
    }
  });

  it('records every failed login in the audit log without secrets', async () => {
    const failures = (await auditActions()).filter((a) => a.action === 'auth.login_failed');
    expect(failures.length).toBeGreaterThanOrEqual(8);
    const text = JSON.stringify(failures);
    expect(text).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\./); // no JWTs
    expect(text).not.toContain(t.config.oidc.clientSecret);
  });
});
