// `sallyport admin` on real parts: the CLI in its own process against a real broker (PostgreSQL,
// the dev IdP, Docker consoles). What an admin at a shell notices: `admin login` prints a link
// and a code, confirming it in a logged-in browser logs the shell in as whoever confirmed it;
// from there they list live consoles, end one (its user sees the reason), revoke a grant, and
// read and follow the audit log — each refused or allowed by the same access layer as the web
// app, so a developer's shell login can do none of it. The token file is its owner's alone, a
// link gives one login, and logging out ends the login at the broker.
import { type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { apiSession, type ApiSession } from './support/api-session.js';
import { startTestBroker, type TestBroker } from './support/broker.js';
import { connectConsole, PROMPT } from './support/console-client.js';
import { writeConsoleCatalog } from './support/console-catalog.js';
import { runCli, spawnCli } from './support/process.js';

let t: TestBroker;
let alice: ApiSession, bob: ApiSession, dave: ApiSession;
const cookieOf = (s: ApiSession) => `sallyport=${s.browser.cookies(t.url).get('sallyport')}`;

beforeAll(async () => {
  t = await startTestBroker({ SALLYPORT_CATALOG: writeConsoleCatalog(inject('consoleImage')), CONSOLE_GREETING: 'x' });
  [alice, bob, dave] = (await Promise.all(['alice', 'bob', 'dave'].map((u) => apiSession(t, u)))) as [ApiSession, ApiSession, ApiSession];
});
afterAll(async () => {
  await t?.close();
});

/** A shell of its own: a fresh config directory, pointed at the test broker. */
function shell() {
  const dir = mkdtempSync(join(tmpdir(), 'sallyport-admin-'));
  const env = { XDG_CONFIG_HOME: dir, SALLYPORT_URL: t.url };
  return { env, credentials: join(dir, 'sallyport', 'credentials.json'), run: (...args: string[]) => runCli(['admin', ...args], env) };
}

/** Starts `admin login`, returns the link's token and code it printed, and the running process. */
async function startLogin(env: Record<string, string>): Promise<{ child: ChildProcess; token: string; code: string; exited: Promise<{ code: number | null; stdout: string; stderr: string }> }> {
  const child = spawnCli(['admin', 'login', '--interval', '100'], env);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  const exited = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => child.once('exit', (code) => resolve({ code, stdout, stderr })));
  const shown = await new Promise<{ token: string; code: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no login link within 20 s: ${stderr}`)), 20_000);
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      const link = /\/cli\/([A-Za-z0-9_-]{32})/.exec(stderr);
      const code = /code ([A-Z]{4}-[A-Z]{4})/.exec(stderr);
      if (link && code) {
        clearTimeout(timer);
        resolve({ token: link[1]!, code: code[1]! });
      }
    });
  });
  return { child, ...shown, exited };
}

/** `admin login` confirmed in `who`'s browser; returns the shell. */
async function loggedIn(who: ApiSession) {
  const sh = shell();
  const l = await startLogin(sh.env);
  expect((await who.post(`/api/cli-logins/${l.token}/confirm`, {})).status).toBe(200);
  const done = await l.exited;
  expect(done.code, done.stderr).toBe(0);
  return { ...sh, login: done };
}

// Each test spawns the CLI several times (each compiles its TypeScript): on a busy two-core
// machine that is seconds a spawn, so the tests get a budget for it, not the default 30 s.
describe('sallyport admin', { timeout: 120_000 }, () => {
  it('logs a shell in through a link confirmed in the browser, as the user who confirmed it', async () => {
    const sh = shell();
    const l = await startLogin(sh.env);
    // The page shows the same code and where the request came from.
    const view = await dave.get(`/api/cli-logins/${l.token}`);
    expect(view.body).toMatchObject({ code: l.code, state: 'waiting', clientAddress: '127.0.0.1', clientName: expect.stringMatching(/^sallyport\/\d+\.\d+\.\d+ on /) });
    // Confirming needs the browser's CSRF token, like every change.
    expect((await dave.post(`/api/cli-logins/${l.token}/confirm`, {}, { csrf: null })).status).toBe(403);
    expect((await dave.post(`/api/cli-logins/${l.token}/confirm`, {})).status).toBe(200);
    const done = await l.exited;
    expect(done.code, done.stderr).toBe(0);
    expect(done.stdout).toMatch(/^Logged in to http:\/\/127\.0\.0\.1:\d+ as dave until /);
    // The token file is its owner's alone, and holds no broker secret but the login itself.
    expect(statSync(sh.credentials).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(sh.credentials, 'utf8'))).toMatchObject({ url: t.url, username: 'dave', token: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/) });
    expect((await sh.run('whoami')).stdout).toMatch(/^dave on http:\/\/127\.0\.0\.1:\d+ \(roles: admin/);
    // A second confirmation of the same link is refused; the login was handed out once.
    expect((await alice.post(`/api/cli-logins/${l.token}/confirm`, {})).status).toBe(409);
    const trail = (await t.broker.audit.list({ limit: 1000 })).map((e) => e.action);
    expect(trail).toEqual(expect.arrayContaining(['cli.login.issued', 'cli.login.confirmed', 'cli.login.taken']));
  });

  it('lists live consoles, terminates one with a reason its user sees, and follows the audit log', async () => {
    const sh = await loggedIn(dave);
    const c = await connectConsole(t.url, 'shell', { cookie: cookieOf(alice) });
    await c.waitFor(PROMPT);
    const id = c.sessionId();
    const listed = await sh.run('sessions');
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toMatch(new RegExp(`^ID +USER +TARGET`));
    expect(listed.stdout).toMatch(new RegExp(`^${id} +alice +shell +web `, 'm'));
    expect(JSON.parse((await sh.run('sessions', '--json')).stdout)).toEqual([expect.objectContaining({ id, username: 'alice', target: 'shell' })]);

    // Following the audit log from before the terminate sees it happen.
    const follow = spawnCli(['admin', 'audit', '--action', 'console.', '--follow', '--interval', '200'], sh.env);
    let followed = '';
    follow.stdout!.on('data', (d: Buffer) => (followed += d.toString()));
    try {
      await expect.poll(() => followed, { timeout: 10_000 }).toMatch(/console\.opened/);
      expect((await sh.run('terminate', id)).stderr).toMatch(/needs --reason/);
      const ended = await sh.run('terminate', id, '--reason', 'rotating credentials');
      expect(ended.code, ended.stderr).toBe(0);
      expect((await c.closed).reason).toBe('terminated by dave: rotating credentials');
      await expect.poll(() => followed, { timeout: 10_000 }).toMatch(new RegExp(`console\\.terminated  ${id}  .*"reason":"rotating credentials"`));
      await expect.poll(() => followed, { timeout: 10_000 }).toMatch(/console\.ended/);
    } finally {
      follow.kill();
    }
    // Oldest first, one line an event.
    const lines = (await sh.run('audit', '--subject', id)).stdout.trim().split('\n');
    expect(lines.map((l) => l.trim().split(/\s+/)[3])).toEqual(['console.opened', 'console.terminated', 'console.ended']);
    expect((await sh.run('sessions')).stdout).toBe('No live consoles.\n');
  });

  it('revokes a grant by its request id', async () => {
    const sh = await loggedIn(dave);
    const asked = await alice.post('/api/access-requests', { target: 'gated', reason: 'fix BILL-7', durationSeconds: 600 });
    expect(asked.status).toBe(201);
    expect((await bob.post(`/api/access-requests/${asked.body.id}/decision`, { decision: 'approve', comment: 'ok' })).status).toBe(200);
    const r = await sh.run('revoke', asked.body.id, '--reason', 'done early');
    expect(r.code, r.stderr).toBe(0);
    expect((await alice.get(`/api/access-requests/${asked.body.id}`)).body.status).toBe('revoked');
  });

  it("gives a developer's shell exactly a developer's powers", async () => {
    const sh = await loggedIn(alice);
    expect((await sh.run('whoami')).stdout).toMatch(/^alice /);
    for (const args of [['sessions'], ['audit'], ['terminate', '00000000-0000-4000-8000-000000000000', '--reason', 'x']]) {
      const r = await sh.run(...args);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr).toMatch(/needs the (admin|auditor or admin) role/);
    }
  });

  it('ends the login at the broker on logout; a stolen poll secret or a made-up token gets nothing', async () => {
    const sh = await loggedIn(dave);
    const { token } = JSON.parse(readFileSync(sh.credentials, 'utf8')) as { token: string };
    expect((await sh.run('logout')).code).toBe(0);
    // The token no longer works, even if a copy of the file was kept.
    const after = await fetch(`${t.url}/api/me`, { headers: { authorization: `Bearer ${token}` } });
    expect(after.status).toBe(401);
    const r = await sh.run('sessions');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/not logged in/);
    expect((await fetch(`${t.url}/api/live`, { headers: { authorization: `Bearer ${'x'.repeat(43)}` } })).status).toBe(401);
    const poll = await fetch(`${t.url}/api/cli-logins/poll`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ pollSecret: 'A'.repeat(32) }) });
    expect(poll.status).toBe(404);
    const badStart = await fetch(`${t.url}/api/cli-logins`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ client: 'x', extra: 1 }) });
    expect(badStart.status).toBe(400);
    // A page elsewhere cannot make a browser confirm: the cookie alone is refused without CSRF.
    const start = await (await fetch(`${t.url}/api/cli-logins`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ client: 'x' }) })).json();
    const forged = await fetch(start.url.replace('/cli/', '/api/cli-logins/') + '/confirm', { method: 'POST', headers: { cookie: cookieOf(dave), origin: 'https://evil.example', 'content-type': 'application/json' }, body: '{}' });
    expect(forged.status).toBe(403);
  });

  it('refuses a plain-http broker that is not on loopback, before sending anything', async () => {
    const r = await runCli(['admin', 'login', '--url', 'http://sallyport.example.com'], { XDG_CONFIG_HOME: mkdtempSync(join(tmpdir(), 'sallyport-admin-')) });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/plain http/);
  });
});
