// What the outside review attacked and found holding, kept as tests so a regression fails CI:
// cross-site WebSocket hijacking of both sockets (foreign, `null`, missing and look-alike
// Origins are refused before the upgrade and start nothing), CSRF on every state change
// (cross-origin, text/plain, missing and another user's token), and IDOR on every per-session
// endpoint and on search (another user's session is "not found", never shown).
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startTestBroker, type TestBroker } from './support/broker.js';
import { apiSession, type ApiSession } from './support/api-session.js';
import { connectConsole, PROMPT } from './support/console-client.js';
import { brokerContainers } from './support/docker.js';
import { writeConsoleCatalog } from './support/console-catalog.js';

let t: TestBroker;
let alice: ApiSession, bob: ApiSession, dave: ApiSession;
let aliceSession: string;
const cookieOf = (s: ApiSession) => `sallyport=${s.browser.cookies(t.url).get('sallyport')}`;

beforeAll(async () => {
  t = await startTestBroker({ SALLYPORT_CATALOG: writeConsoleCatalog(inject('consoleImage')), CONSOLE_GREETING: 'x' });
  [alice, bob, dave] = (await Promise.all(['alice', 'bob', 'dave'].map((u) => apiSession(t, u)))) as [ApiSession, ApiSession, ApiSession];
  const c = await connectConsole(t.url, 'shell', { cookie: cookieOf(alice) });
  await c.waitFor(PROMPT);
  aliceSession = c.sessionId();
  c.type('echo "alice-""private-words"; exit\n');
  await c.closed;
});
afterAll(async () => {
  await t?.close();
});

/** Upgrades with exactly these headers; resolves to the HTTP status of a refusal, or 101. */
function upgrade(path: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${t.url.replace(/^http/, 'ws')}${path}`, { headers });
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.once('open', () => {
      resolve(101);
      ws.close();
    });
    ws.once('error', reject);
  });
}

describe('cross-site WebSocket hijacking', () => {
  it('is refused before the upgrade on both sockets, for every kind of foreign Origin, and starts nothing', async () => {
    const port = new URL(t.url).port;
    const foreign = ['https://evil.example', 'null', `${t.url}.evil.example`, `http://127.0.0.1:${Number(port) + 1}`, `https://127.0.0.1:${port}`, `${t.url}/`, t.url.toUpperCase()];
    const watch = `/api/sessions/${aliceSession}/watch`;
    for (const path of ['/api/consoles/shell/connect', watch]) {
      const cookie = path === watch ? cookieOf(dave) : cookieOf(alice);
      for (const origin of foreign) expect(await upgrade(path, { cookie, origin }), `${path} from ${origin}`).toBe(403);
      expect(await upgrade(path, { cookie }), `${path} without Origin`).toBe(403);
      // The right Origin but no session is refused too.
      expect(await upgrade(path, { origin: t.url })).toBe(401);
    }
    expect(brokerContainers(t.broker.instanceId)).toEqual([]);
  });
});

describe('CSRF', () => {
  it('is refused on every state change: cross-origin, text/plain, no token, another user’s token', async () => {
    const changes: Array<[ApiSession, string, unknown]> = [
      [alice, '/api/access-requests', { target: 'gated', reason: 'r', durationSeconds: 600 }],
      [bob, '/api/access-requests/00000000-0000-4000-8000-000000000000/decision', { decision: 'approve' }],
      [alice, '/api/access-requests/00000000-0000-4000-8000-000000000000/withdraw', {}],
      [bob, '/api/access-requests/00000000-0000-4000-8000-000000000000/revoke', { reason: 'x' }],
      [dave, `/api/sessions/${aliceSession}/terminate`, { reason: 'x' }],
    ];
    for (const [who, path, body] of changes) {
      expect((await who.post(path, body, { origin: 'https://evil.example' })).status, `${path} cross-origin`).toBe(403);
      expect((await who.post(path, body, { origin: null })).status, `${path} without Origin`).toBe(403);
      expect((await who.post(path, body, { csrf: null })).status, `${path} without token`).toBe(403);
      const other = who === alice ? bob : alice;
      expect((await who.post(path, body, { csrf: other.csrf })).status, `${path} with another user's token`).toBe(403);
      // A cross-site form can only send text/plain, urlencoded or multipart, and no custom header.
      const plain = await fetch(`${t.url}${path}`, {
        method: 'POST',
        headers: { cookie: cookieOf(who), origin: 'https://evil.example', 'content-type': 'text/plain' },
        body: JSON.stringify(body),
      });
      expect([400, 403, 415], `${path} text/plain`).toContain(plain.status);
      // A bearer header beside the cookie does not buy the bearer's exemption: the cookie is what
      // speaks, so its CSRF check applies.
      const both = await fetch(`${t.url}${path}`, {
        method: 'POST',
        headers: { cookie: cookieOf(who), authorization: `Bearer ${'x'.repeat(43)}`, origin: 'https://evil.example', 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      expect(both.status, `${path} cookie and bearer`).toBe(403);
      expect((await both.json()).error.code).toBe('CSRF_REJECTED');
    }
    expect((await t.broker.db.query(`select count(*)::int as n from access_requests`)).rows[0].n).toBe(0);
  });
});

describe('IDOR', () => {
  it('another user’s session is not found on every per-session endpoint, and search never shows it', async () => {
    // (keyframes: replay-keyframes.test.ts, on a recording long enough to have one)
    const paths = ['', '/recording', '/bundle', '/index', '/chunks?from=1&to=1', '/commands'].map((p) => `/api/sessions/${aliceSession}${p}`);
    const get = (who: ApiSession, path: string) => fetch(`${t.url}${path}`, { headers: { cookie: cookieOf(who), accept: 'application/json' } });
    for (const path of paths) {
      expect((await get(alice, path)).status, `alice ${path}`).not.toBe(404);
      const r = await get(bob, path);
      expect(r.status, `bob ${path}`).toBe(404);
      expect(await r.text()).not.toContain('alice-private-words');
    }
    expect((await bob.get('/api/sessions')).body.sessions).toEqual([]);
    await expect.poll(async () => (await alice.get('/api/search?q=private-words')).body.results.length, { timeout: 5000 }).toBeGreaterThan(0);
    expect((await bob.get('/api/search?q=private-words')).body.results).toEqual([]);
  });
});

describe('search and input that once broke the broker', () => {
  it('20 concurrent long searches from one user: two run at a time, the rest are told to wait at once; a NUL byte anywhere is a 400 naming the field', async () => {
    const carol = await apiSession(t, 'carol');
    const q = encodeURIComponent(`${'x'.repeat(150)}-${'y'.repeat(49)}`);
    const t0 = performance.now();
    const answers = await Promise.all(Array.from({ length: 20 }, () => carol.get(`/api/search?q=${q}`)));
    const statuses = answers.map((a) => a.status);
    // How many overlap depends on how fast each finishes; those that overlap past two are refused.
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThan(0);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(0);
    expect(statuses.every((s) => s === 200 || s === 429)).toBe(true);
    expect(answers.find((a) => a.status === 429)!.body.error).toMatchObject({ code: 'LIMIT_REACHED', message: expect.stringMatching(/too many searches running at once/) });
    console.log(`20 concurrent 200-character searches answered in ${(performance.now() - t0).toFixed(0)} ms (${statuses.filter((s) => s === 429).length} refused at once)`);

    for (const path of ['/api/search?q=ab%00cd', '/api/audit?subject=a%00b', '/api/sessions?user=al%00ice']) {
      const r = await carol.get(path);
      expect(r.status, path).toBe(400);
      expect(r.body.error.problems[0].field, path).toMatch(/^query\.(q|subject|user)$/);
      expect(r.body.error.problems[0].message).toMatch(/NUL byte/);
    }
    const body = await alice.post('/api/access-requests', { target: 'gated', reason: 'a\u0000b', durationSeconds: 600 });
    expect(body.status).toBe(400);
    expect(body.body.error.problems[0].field).toBe('body.reason');
  });
});
