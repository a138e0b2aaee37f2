// A command-line login a phished admin cannot keep, on a real broker: it is a child of the
// browser login that confirmed it and ends with it; it cannot confirm further logins (CLI or SSH)
// so it cannot mint a token that outlives its parent; by default it reaches the admin and audit
// API only; its owner and admins list and end it; and the confirm page's data says what the client
// claims apart from what the broker saw, with this browser's address to compare.
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createSshLogins } from '../server/identity/index.js';
import { apiSession, type ApiSession } from './support/api-session.js';
import { startTestBroker, type TestBroker } from './support/broker.js';
import { writeConsoleCatalog } from './support/console-catalog.js';

let t: TestBroker;
let alice: ApiSession, bob: ApiSession, dave: ApiSession;

beforeAll(async () => {
  t = await startTestBroker({ SALLYPORT_CATALOG: writeConsoleCatalog(inject('consoleImage')), CONSOLE_GREETING: 'x' });
  [alice, bob, dave] = (await Promise.all(['alice', 'bob', 'dave'].map((u) => apiSession(t, u)))) as [ApiSession, ApiSession, ApiSession];
});
afterAll(async () => {
  await t?.close();
});

const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${t.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** Starts a CLI login as the CLI does, has `who` confirm it in their browser, and polls for the token. */
async function cliLogin(who: ApiSession, scope?: 'full' | 'admin'): Promise<{ token: string; link: string }> {
  const start = await (await post('/api/cli-logins', { client: 'dave-laptop (verified)', ...(scope ? { scope } : {}) })).json();
  const link = new URL(start.url).pathname.slice('/cli/'.length);
  expect((await who.post(`/api/cli-logins/${link}/confirm`, {})).status).toBe(200);
  const polled = await (await post('/api/cli-logins/poll', { pollSecret: start.pollSecret })).json();
  expect(polled.state).toBe('confirmed');
  return { token: polled.token, link };
}

describe('a command-line login', () => {
  it('is scoped to the admin and audit API by default: no console, no access request, no approval', async () => {
    const { token } = await cliLogin(dave);
    expect((await fetch(`${t.url}/api/live`, { headers: bearer(token) })).status).toBe(200);
    expect((await fetch(`${t.url}/api/audit`, { headers: bearer(token) })).status).toBe(200);
    const asked = await post('/api/access-requests', { target: 'gated', reason: 'x', durationSeconds: 600 }, bearer(token));
    expect(asked.status).toBe(403);
    expect((await asked.json()).error.message).toMatch(/asking for access needs a full login: this command-line login is scoped to the admin and audit API/);
    // A console through the WebSocket with the token: refused before anything starts.
    const closed = await new Promise<string>((resolve) => {
      const ws = new WebSocket(`${t.url.replace(/^http/, 'ws')}/api/consoles/shell/connect`, { headers: { ...bearer(token), origin: t.url } });
      let said = '';
      ws.on('message', (d) => (said += d.toString()));
      ws.on('open', () => ws.send(JSON.stringify({ type: 'open', cols: 80, rows: 24 })));
      ws.on('close', (_code, reason) => resolve(`${said} ${reason.toString()}`));
      ws.on('unexpected-response', (_req, res) => resolve(`HTTP ${res.statusCode}`));
      ws.on('error', () => undefined);
    });
    expect(closed).toMatch(/needs a full login|HTTP 40[13]/);
    const full = await cliLogin(alice, 'full');
    expect((await post('/api/access-requests', { target: 'gated', reason: 'full scope', durationSeconds: 600 }, bearer(full.token))).status).toBe(201);
  });

  it('cannot confirm a CLI or an SSH login, so it cannot mint a login that outlives it', async () => {
    const { token } = await cliLogin(dave, 'full');
    const start = await (await post('/api/cli-logins', { client: 'x' })).json();
    const link = new URL(start.url).pathname.slice('/cli/'.length);
    const r = await post(`/api/cli-logins/${link}/confirm`, {}, bearer(token));
    expect(r.status).toBe(403);
    expect((await r.json()).error.message).toMatch(/a command-line login cannot confirm logins/);
    const ssh = createSshLogins({ config: t.config, db: t.broker.db, audit: t.broker.audit, brokerId: t.broker.instanceId });
    const door = await ssh.begin({ target: 'shell', clientAddress: '127.0.0.1', clientVersion: 'SSH-2.0-OpenSSH_9.2' });
    const s = await post(`/api/ssh-logins/${door.token}/confirm`, {}, bearer(token));
    expect(s.status).toBe(403);
    expect((await s.json()).error.message).toMatch(/a command-line login cannot confirm logins/);
  });

  it('ends when the browser login that confirmed it ends', async () => {
    const browser = await apiSession(t, 'dave');
    const { token } = await cliLogin(browser);
    expect((await fetch(`${t.url}/api/me`, { headers: bearer(token) })).status).toBe(200);
    expect((await browser.post('/auth/logout', {})).status).toBe(303);
    expect((await fetch(`${t.url}/api/me`, { headers: bearer(token) })).status).toBe(401);
  });

  it('is listed to its owner and to admins, who can end it; nobody else can (audited)', async () => {
    const mine = await cliLogin(alice);
    const other = await cliLogin(alice);
    const list = (await alice.get('/api/cli-sessions')).body.logins as Array<{ id: string; username: string; clientName: string; scope: string }>;
    expect(list.length).toBeGreaterThanOrEqual(2);
    expect(list.every((l) => l.username === 'alice')).toBe(true);
    expect(list[0]).toMatchObject({ clientName: 'dave-laptop (verified)', scope: 'admin' });
    expect((await alice.get('/api/cli-sessions?all=true')).status).toBe(403);
    const everyone = (await dave.get('/api/cli-sessions?all=true')).body.logins as Array<{ id: string; username: string }>;
    expect(everyone.some((l) => l.username === 'alice')).toBe(true);
    // bob cannot end alice's (not found, like any id he may not see); alice ends hers; dave ends the other.
    const [first, second] = list;
    expect((await bob.post(`/api/cli-sessions/${first!.id}/revoke`, {})).status).toBe(404);
    expect((await alice.post(`/api/cli-sessions/${first!.id}/revoke`, {})).status).toBe(200);
    expect((await dave.post(`/api/cli-sessions/${second!.id}/revoke`, {})).status).toBe(200);
    expect((await fetch(`${t.url}/api/me`, { headers: bearer(mine.token) })).status).toBe(401);
    expect((await fetch(`${t.url}/api/me`, { headers: bearer(other.token) })).status).toBe(401);
    const revoked = (await t.broker.audit.list({ action: 'cli.login.revoked', limit: 100 })).map((e) => e.details);
    expect(revoked).toEqual(expect.arrayContaining([{ by: 'alice', username: 'alice', clientName: 'dave-laptop (verified)' }, { by: 'dave', username: 'alice', clientName: 'dave-laptop (verified)' }]));
  });

  it("shows the confirming page what the client claims, what it asks for, and this browser's address", async () => {
    const start = await (await post('/api/cli-logins', { client: 'dave-laptop (verified)' })).json();
    const link = new URL(start.url).pathname.slice('/cli/'.length);
    const view = (await dave.get(`/api/cli-logins/${link}`)).body;
    expect(view).toMatchObject({ clientName: 'dave-laptop (verified)', clientAddress: '127.0.0.1', yourAddress: '127.0.0.1', scope: 'admin' });
  });
});
