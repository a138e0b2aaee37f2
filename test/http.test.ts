// The HTTP front door's guarantees on a running production-mode broker: probes, security
// headers on every response, CSRF and Origin checks on every state change, JSON errors that
// name the field, and readiness that follows the database.
import fastifyCookie from '@fastify/cookie';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../server/config/index.js';
import { setSessionCookie } from '../server/http/session.js';
import { Browser, startTestBroker, type TestBroker } from './support/broker.js';
import { adminQuery } from './support/postgres.js';
import { testSigningKey } from './support/signing-key.js';

let t: TestBroker;
beforeAll(async () => {
  t = await startTestBroker();
});
afterAll(async () => {
  await t?.close();
});

describe('probes', () => {
  it('healthz and readyz answer JSON', async () => {
    const h = await fetch(`${t.url}/healthz`);
    expect(h.status).toBe(200);
    expect(h.headers.get('content-type')).toMatch(/application\/json/);
    expect(await h.json()).toEqual({ status: 'ok' });
    const r = await fetch(`${t.url}/readyz`);
    expect(await r.json()).toEqual({ status: 'ready' });
  });
});

describe('every response', () => {
  it('carries a strict CSP and the other security headers', async () => {
    for (const path of ['/healthz', '/auth/logged-out', '/nope', '/']) {
      const res = await fetch(`${t.url}${path}`, { redirect: 'manual' });
      const csp = res.headers.get('content-security-policy') ?? '';
      expect(csp, path).toContain("default-src 'none'");
      expect(csp).toContain("script-src 'self'");
      expect(csp).not.toContain('unsafe-inline');
      expect(csp).not.toContain('unsafe-eval');
      expect(csp).toContain("frame-ancestors 'none'");
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('x-frame-options')).toBe('DENY');
      expect(res.headers.get('referrer-policy')).toBe('same-origin');
    }
  });

  it('carries a request id: a random one, or the caller’s X-Request-Id when it is a plain token', async () => {
    const a = (await fetch(`${t.url}/healthz`)).headers.get('x-request-id');
    const b = (await fetch(`${t.url}/healthz`)).headers.get('x-request-id');
    expect(a).toMatch(/^[0-9a-f-]{36}$/);
    expect(b).not.toBe(a);
    const given = 'lb-7f3a9c2e.42';
    expect((await fetch(`${t.url}/nope`, { headers: { 'x-request-id': given } })).headers.get('x-request-id')).toBe(given);
    // A value that could forge a log line, or is merely long, is not taken.
    for (const hostile of ['x"}{"level":60,"msg":"forged', 'short', 'a'.repeat(129)]) {
      expect((await fetch(`${t.url}/healthz`, { headers: { 'x-request-id': hostile } })).headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    }
  });

  it('answers unknown routes with a JSON 404', async () => {
    const res = await fetch(`${t.url}/no/such/thing`);
    expect(res.status).toBe(404);
    expect((await res.json()).error.code).toBe('NOT_FOUND');
  });
});

describe('state changes', () => {
  it('refuse a cross-site or Origin-less POST even with a valid session', async () => {
    const browser = new Browser();
    await t.login(browser, 'alice');
    const me = JSON.parse((await browser.request(`${t.url}/api/me`, { headers: { accept: 'application/json' } })).body);
    const withoutOrigin = await browser.request(`${t.url}/auth/logout`, { form: { csrf: me.csrfToken }, headers: { accept: 'application/json' } });
    expect(withoutOrigin.status).toBe(403);
    expect(JSON.parse(withoutOrigin.body).error.code).toBe('CSRF_REJECTED');
    const otherToken = await browser.request(`${t.url}/auth/logout`, {
      form: { csrf: 'A'.repeat(43) },
      headers: { origin: t.url, accept: 'application/json' },
    });
    expect(otherToken.status).toBe(403);
    // Still logged in: nothing was changed by the refused requests.
    expect((await browser.request(`${t.url}/api/me`, { headers: { accept: 'application/json' } })).status).toBe(200);
  });

  it('refuse a POST without any session', async () => {
    const res = await fetch(`${t.url}/auth/logout`, { method: 'POST', headers: { origin: t.url, 'content-type': 'application/x-www-form-urlencoded' }, body: 'csrf=x' });
    expect(res.status).toBe(403);
  });
});

describe('bad input', () => {
  it('gets a 400 naming the field', async () => {
    const res = await fetch(`${t.url}/auth/login?returnTo=${'a'.repeat(3000)}`, { redirect: 'manual', headers: { accept: 'application/json' } });
    expect(res.status).toBe(400);
    const body = await res.json();
    expect(body.error.code).toBe('BAD_REQUEST');
    expect(body.error.problems[0].field).toMatch(/returnTo/);
    const extra = await fetch(`${t.url}/auth/login?next=/x`, { redirect: 'manual', headers: { accept: 'application/json' } });
    expect(extra.status).toBe(400);
    expect((await extra.json()).error.problems).toEqual([{ field: 'next', message: 'is not a known field' }]);
  });
});

describe('session cookie', () => {
  it('is HttpOnly, SameSite=Lax, Secure and __Host- prefixed when the public URL is https', async () => {
    const config = loadConfig(
      {
        DATABASE_URL: 'postgres://u@x/y',
        SALLYPORT_PUBLIC_URL: 'https://sallyport.example.com',
        SALLYPORT_OIDC_ISSUER: 'https://idp.example.com',
        SALLYPORT_OIDC_CLIENT_ID: 'c',
        SALLYPORT_OIDC_CLIENT_SECRET: 's',
        SALLYPORT_SESSION_SECRET: 'k'.repeat(40),
        SALLYPORT_SIGNING_KEY: testSigningKey(),
        SALLYPORT_CATALOG: '/c.yaml',
      },
      'production',
    );
    const app = Fastify();
    await app.register(fastifyCookie);
    app.get('/', async (_req, reply) => {
      setSessionCookie(reply, config, 'abc');
      return 'ok';
    });
    const res = await app.inject({ method: 'GET', url: '/' });
    const cookie = String(res.headers['set-cookie']);
    expect(cookie).toMatch(/^__Host-sallyport=abc;/);
    expect(cookie).toMatch(/; Secure/);
    expect(cookie).toMatch(/; HttpOnly/);
    expect(cookie).toMatch(/; SameSite=Lax/);
    expect(cookie).toMatch(/; Path=\//);
    expect(cookie).not.toMatch(/Domain=/);
    await app.close();
  });
});

describe('readiness', () => {
  it('turns not-ready when the database goes away', async () => {
    await adminQuery(`alter database ${t.db.name} allow_connections false`);
    await adminQuery(`select pg_terminate_backend(pid) from pg_stat_activity where datname = '${t.db.name}'`);
    try {
      const res = await fetch(`${t.url}/readyz`);
      expect(res.status).toBe(503);
      expect(await res.json()).toEqual({ status: 'not_ready', reason: 'database unreachable' });
      expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
    } finally {
      await adminQuery(`alter database ${t.db.name} allow_connections true`);
    }
    const back = await fetch(`${t.url}/readyz`);
    expect(back.status).toBe(200);
  });
});
