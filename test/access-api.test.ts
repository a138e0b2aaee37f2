// The just-in-time access API on real parts (PostgreSQL, oidc-provider, the broker over HTTP):
// tested directly, not through the UI — CSRF on every state change, roles on every endpoint,
// bad input named and nothing written, step-up login before a decision, and webhooks
// delivered to a local receiver, including a retry after it first fails.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { render } from '../server/notify/index.js';
import { FIXTURES, startTestBroker, type TestBroker } from './support/broker.js';
import { apiSession, type ApiSession } from './support/api-session.js';

const REAUTH_SECONDS = 4;
let t: TestBroker;
let receiver: Server;
const received: Array<{ body: any; answered: number }> = [];
let failNext = 1;
// While set, the receiver reads a delivery and never answers it (a receiver that hangs).
let hang = false;
const hanging: { answered: () => boolean; aborted: () => boolean }[] = [];
let catalogFile: string;
let alice: ApiSession, bob: ApiSession, carol: ApiSession, dave: ApiSession;

const count = async (table: string) => (await t.broker.db.query(`select count(*)::int as n from ${table}`)).rows[0].n as number;
const ask = (who: ApiSession, body: Record<string, unknown> = {}) =>
  who.post('/api/access-requests', { target: 'billing-console', reason: 'fix BILL-42', durationSeconds: 600, ...body });

beforeAll(async () => {
  receiver = createServer((req, res) => {
    let data = '';
    req.on('data', (c) => (data += c));
    req.on('end', () => {
      if (hang) {
        let aborted = false;
        res.on('close', () => (aborted = !res.writableEnded));
        hanging.push({ answered: () => res.writableEnded, aborted: () => aborted });
        return;
      }
      const answered = failNext > 0 ? 500 : 204;
      if (failNext > 0) failNext--;
      received.push({ body: JSON.parse(data), answered });
      res.statusCode = answered;
      res.end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  catalogFile = join(mkdtempSync(join(tmpdir(), 'sallyport-access-api-')), 'catalog.yaml');
  writeFileSync(catalogFile, readFileSync(join(FIXTURES, 'catalog.yaml')));
  t = await startTestBroker({
    SALLYPORT_CATALOG: catalogFile,
    SALLYPORT_REAUTH_MAX_AGE: `${REAUTH_SECONDS}s`,
    SALLYPORT_WEBHOOK_URL: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook?token=s3cret`,
  });
  [alice, bob, carol, dave] = (await Promise.all(['alice', 'bob', 'carol', 'dave'].map((u) => apiSession(t, u)))) as [ApiSession, ApiSession, ApiSession, ApiSession];
});
afterAll(async () => {
  await t?.close();
  receiver?.close();
});

describe('asking for access', () => {
  it('creates a pending request that names the exact console and who can approve it', async () => {
    const r = await ask(alice);
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({
      requester: 'alice',
      target: 'billing-console',
      image: expect.stringMatching(/@sha256:0123/),
      command: ['bin/rails', 'console'],
      status: 'pending',
      durationSeconds: 600,
      maxSessions: 1,
      approvers: { groups: ['approvers'], users: ['bob'] },
      youMay: { decide: false, withdraw: true, revoke: false, handBack: false, openConsole: false },
    });
    expect((await alice.get('/api/access-requests?scope=mine')).body.requests.map((x: { id: string }) => x.id)).toContain(r.body.id);
    // Bob sees it among those he may decide; alice never sees her own there.
    expect((await bob.get('/api/access-requests?scope=decide')).body.requests.map((x: { id: string }) => x.id)).toContain(r.body.id);
    expect((await alice.get('/api/access-requests?scope=decide')).body.requests).toEqual([]);
  });

  it('refuses bad input with a 400 naming the field, and writes nothing', async () => {
    const before = [await count('access_requests'), await count('audit_events'), await count('notifications')];
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ durationSeconds: 5 * 3600 }, 'durationSeconds'],
      [{ durationSeconds: '1h' }, 'durationSeconds'],
      [{ reason: '' }, 'reason'],
      [{ reason: 'no ticket' }, 'reason'],
      [{ reason: 42 }, 'reason'],
      [{ target: 'no-such-target' }, 'target'],
      [{ target: 'ops-shell' }, 'target'],
      [{ surprise: true }, 'surprise'],
      [{ reason: 'BILL-1 ' + 'x'.repeat(5000) }, 'reason'],
    ];
    for (const [body, field] of cases) {
      const r = await ask(alice, body);
      expect(r.status, JSON.stringify(body).slice(0, 80)).toBe(400);
      expect(r.body.error.code).toBe('BAD_REQUEST');
      expect(r.body.error.problems.map((p: { field: string }) => p.field)).toContain(field);
    }
    const pending = (await ask(alice)).body.id;
    const huge = await bob.post(`/api/access-requests/${pending}/decision`, { decision: 'approve', comment: 'x'.repeat(3000) });
    expect(huge.status).toBe(400);
    expect(huge.body.error.problems[0].field).toBe('comment');
    const wrong = await bob.post(`/api/access-requests/${pending}/decision`, { decision: 'maybe' });
    expect(wrong.status).toBe(400);
    expect(wrong.body.error.problems[0].field).toBe('decision');
    expect((await bob.get(`/api/access-requests/not-a-uuid`)).status).toBe(400);
    expect([await count('access_requests'), await count('audit_events'), await count('notifications')]).toEqual([
      before[0]! + 1,
      before[1]! + 1,
      before[2]! + 1,
    ]);
    expect(await count('access_decisions')).toBe(0);
  });
});

describe('every state change refuses cross-site requests', () => {
  it('without the CSRF token, with a wrong one, from another origin or with no Origin', async () => {
    const pending = (await ask(alice)).body.id;
    const before = [await count('access_requests'), await count('access_decisions')];
    const attempts: Array<[ApiSession, string, unknown]> = [
      [alice, '/api/access-requests', { target: 'billing-console', reason: 'BILL-1', durationSeconds: 600 }],
      [bob, `/api/access-requests/${pending}/decision`, { decision: 'approve' }],
      [alice, `/api/access-requests/${pending}/withdraw`, {}],
      [bob, `/api/access-requests/${pending}/revoke`, {}],
    ];
    for (const [who, path, body] of attempts) {
      for (const options of [{ csrf: null }, { csrf: alice.csrf === who.csrf ? bob.csrf : alice.csrf }, { origin: 'https://evil.example' }, { origin: null }]) {
        const r = await who.post(path, body, options);
        expect(r.status, `${path} ${JSON.stringify(options)}`).toBe(403);
        expect(r.body.error.code).toBe('CSRF_REJECTED');
      }
    }
    expect([await count('access_requests'), await count('access_decisions')]).toEqual(before);
    expect((await alice.get(`/api/access-requests/${pending}`)).body.status).toBe('pending');
  });
});

describe('every endpoint refuses users without the role', () => {
  it('answers 401 to anonymous callers', async () => {
    for (const path of ['/api/access-requests?scope=mine', `/api/access-requests/${crypto.randomUUID()}`]) {
      const res = await fetch(`${t.url}${path}`);
      expect(res.status).toBe(401);
    }
  });

  it('lets only approvers of the target decide, never the requester, and only approvers and admins revoke', async () => {
    const id = (await ask(alice)).body.id;
    const decideAs = (who: ApiSession) => who.post(`/api/access-requests/${id}/decision`, { decision: 'approve', comment: 'ok' });
    expect((await decideAs(alice)).status).toBe(403);
    expect((await decideAs(carol)).status).toBe(403);
    // dave is an admin but not in the target's approver group.
    expect((await decideAs(dave)).status).toBe(403);
    expect(await count('access_decisions')).toBe(0);
    // Only the requester may withdraw; to anyone else the request does not exist for withdrawal.
    expect((await bob.post(`/api/access-requests/${id}/withdraw`, {})).status).toBe(404);
    // Carol (auditor) may read it but not ask for access or see the active-grant list.
    expect((await carol.get(`/api/access-requests/${id}`)).status).toBe(200);
    expect((await ask(carol)).status).toBe(403);
    expect((await carol.get('/api/access-requests?scope=active')).status).toBe(403);
    expect((await alice.get('/api/access-requests?scope=active')).status).toBe(403);
    expect((await alice.post(`/api/access-requests/${id}/revoke`, { reason: 'x' })).status).toBe(403);
    // The audit log is for auditors and admins, with actors named.
    expect((await alice.get(`/api/audit?subject=${id}`)).status).toBe(403);
    expect((await bob.get(`/api/audit?subject=${id}`)).status).toBe(403);
    const trail = await carol.get(`/api/audit?subject=${id}`);
    expect(trail.status).toBe(200);
    expect(trail.body.events.map((e: { action: string; actor: string }) => [e.action, e.actor])).toEqual([['access.requested', 'alice']]);
    expect((await dave.get(`/api/audit?action=access.&before=999999`)).body.events.length).toBeGreaterThan(0);
    expect((await carol.get(`/api/audit?action=DROP TABLE`)).status).toBe(400);
  });
});

describe('deciding needs a recent login', () => {
  it('asks for a step-up login with max_age, after which the approval counts', async () => {
    const id = (await ask(alice)).body.id;
    // auth_time has whole-second granularity (the IdP floors it and compares whole seconds):
    // only past REAUTH + 1 s is the login stale for the IdP and the broker alike, every time.
    await new Promise((r) => setTimeout(r, (REAUTH_SECONDS + 1.5) * 1000));
    const stale = await bob.post(`/api/access-requests/${id}/decision`, { decision: 'approve', comment: 'ok' });
    expect(stale.status).toBe(401);
    expect(stale.body.error.code).toBe('REAUTH_REQUIRED');
    expect(stale.body.error.message).toMatch(/^this needs a fresh sign-in \(within 1 minutes?; your last one was (less than a minute|\d+ minutes?) ago\): sign in again/);
    expect(await count('access_decisions')).toBe(0);

    const oldCookie = bob.browser.cookies(t.url).get('sallyport');
    let authorize: URL | undefined;
    // The IdP shows its login form again (t.login insists on it) although bob has an IdP session.
    await t.login(bob.browser, 'bob', { reauth: true, onAuthorize: (u) => (authorize = u) });
    expect(authorize?.searchParams.get('max_age')).toBe(String(REAUTH_SECONDS));
    expect(authorize?.searchParams.get('login_hint')).toBe('bob');
    bob.csrf = (await bob.get('/api/me')).body.csrfToken;
    // The step-up replaced the old session: its cookie no longer authenticates.
    const old = await fetch(`${t.url}/api/me`, { headers: { cookie: `sallyport=${oldCookie}` } });
    expect(old.status).toBe(401);

    const ok = await bob.post(`/api/access-requests/${id}/decision`, { decision: 'approve', comment: 'go ahead' });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ status: 'approved', decisions: [{ approver: 'bob', decision: 'approve', comment: 'go ahead' }] });
    expect(ok.body.opensConsole).toEqual({ ok: true, why: null });
    const logins = await t.broker.audit.list({ action: 'auth.login', limit: 1000 });
    expect(logins.at(-1)!.details).toMatchObject({ username: 'bob', stepUp: true });
  });
});

describe('the life of a request', () => {
  it('withdrawn requests cannot be approved; approved grants can be revoked and leave the active list', async () => {
    await bob.relogin();
    const w = (await ask(alice)).body.id;
    expect((await alice.post(`/api/access-requests/${w}/withdraw`, {})).body.status).toBe('withdrawn');
    const late = await bob.post(`/api/access-requests/${w}/decision`, { decision: 'approve' });
    expect(late.status).toBe(409);
    expect(late.body.error.code).toBe('CONFLICT');

    const g = (await ask(alice)).body.id;
    expect((await bob.post(`/api/access-requests/${g}/decision`, { decision: 'approve' })).body.status).toBe('approved');
    expect((await bob.get('/api/access-requests?scope=active')).body.requests.map((x: { id: string }) => x.id)).toContain(g);
    const revoked = await bob.post(`/api/access-requests/${g}/revoke`, { reason: 'done' });
    expect(revoked.body).toMatchObject({ status: 'revoked', statusReason: 'done', opensConsole: { ok: false } });
    expect((await bob.get('/api/access-requests?scope=active')).body.requests.map((x: { id: string }) => x.id)).not.toContain(g);
    expect((await bob.post(`/api/access-requests/${g}/revoke`, { reason: 'again' })).status).toBe(409);
  });

  it('the requester may hand a grant back early, nobody else may, and it is audited as such', async () => {
    await bob.relogin();
    const g = (await ask(alice)).body.id;
    await bob.post(`/api/access-requests/${g}/decision`, { decision: 'approve' });
    const asAlice = (await alice.get(`/api/access-requests/${g}`)).body;
    // Only the requester is offered the console and the hand-back; the approver is offered revoke.
    expect(asAlice.youMay).toMatchObject({ handBack: true, openConsole: true, revoke: false });
    expect((await bob.get(`/api/access-requests/${g}`)).body.youMay).toMatchObject({ handBack: false, openConsole: false, revoke: true });
    // Someone else's grant is not theirs to hand back (and its existence is not confirmed).
    expect((await bob.post(`/api/access-requests/${g}/hand-back`, {})).status).toBe(404);
    expect((await carol.post(`/api/access-requests/${g}/hand-back`, {})).status).toBe(404);
    expect((await alice.post(`/api/access-requests/${g}/hand-back`, {}, { csrf: null })).status).toBe(403);
    expect((await alice.post(`/api/access-requests/${g}/hand-back`, { extra: 1 })).status).toBe(400);
    const back = await alice.post(`/api/access-requests/${g}/hand-back`, {});
    expect(back.status).toBe(200);
    expect(back.body).toMatchObject({ status: 'revoked', statusReason: 'handed back by the requester', opensConsole: { ok: false }, youMay: { handBack: false } });
    expect((await alice.post(`/api/access-requests/${g}/hand-back`, {})).status).toBe(409);
    const { rows } = await t.broker.db.query(`select action, actor from audit_events where subject = $1 order by seq`, [g]);
    expect(rows.map((r: { action: string }) => r.action)).toEqual(['access.requested', 'access.decision', 'access.approved', 'access.handed_back']);
    // A pending request is withdrawn, not handed back.
    const p = (await ask(alice)).body.id;
    expect((await alice.post(`/api/access-requests/${p}/hand-back`, {})).status).toBe(409);
  });

  it('says why a grant no longer opens a console after the operator changed the image', async () => {
    await bob.relogin();
    const g = (await ask(alice)).body.id;
    await bob.post(`/api/access-requests/${g}/decision`, { decision: 'approve' });
    const original = readFileSync(catalogFile, 'utf8');
    writeFileSync(catalogFile, original.replace('billing@sha256:0123', 'billing@sha256:9123'));
    try {
      expect((await t.broker.catalog.reload()).ok).toBe(true);
      const r = (await alice.get(`/api/access-requests/${g}`)).body;
      expect(r.status).toBe('approved');
      expect(r.opensConsole.ok).toBe(false);
      expect(r.opensConsole.why).toMatch(/image changed since approval.*request access again/);
    } finally {
      writeFileSync(catalogFile, original);
      await t.broker.catalog.reload();
    }
  });
});

describe('webhook notifications', () => {
  it('are delivered to the receiver, retried after it first fails, and never hold up the request', async () => {
    // By now the receiver has failed once (failNext started at 1) and the retry went through.
    await expect.poll(() => received.filter((r) => r.answered === 204).length, { timeout: 15_000 }).toBeGreaterThan(3);
    expect(received[0]!.answered).toBe(500);
    const first = received[0]!.body;
    expect(received.find((r, i) => i > 0 && r.body.requestId === first.requestId && r.answered === 204)).toBeDefined();
    expect(first).toMatchObject({ event: 'access.requested', target: 'billing-console', requester: 'alice', text: 'fix BILL-42' });
    expect(first.url).toBe(`${t.url}/access/${first.requestId}`);
    const events = new Set(received.map((r) => r.body.event));
    for (const e of ['access.requested', 'access.approved', 'access.revoked']) expect(events).toContain(e);
    const row = (await t.broker.db.query(`select attempts, delivered_at, last_error from notifications where subject = $1 and event = 'access.requested'`, [first.requestId])).rows[0];
    expect(row.attempts).toBe(2);
    expect(row.delivered_at).not.toBeNull();

    // A receiver that does not answer does not hold a request up: the request is answered while
    // its delivery is still waiting on the receiver (or not yet sent), never after giving up on it.
    hang = true;
    expect((await ask(alice)).status).toBe(201);
    expect(hanging.filter((h) => h.aborted() || h.answered())).toEqual([]);
    await expect.poll(() => hanging.length, { timeout: 10_000 }).toBeGreaterThan(0);
    hang = false;
  });

  it('renders a Slack incoming-webhook message with escaped text and a link', () => {
    const body = render(
      { event: 'access.requested', requestId: 'r1', target: 'billing', requester: 'alice', actor: 'alice', text: 'fix <b> & BILL-1', expiresAt: null },
      'slack',
      'https://sp.example',
    );
    expect(body).toEqual({ text: '*Access requested*: alice asks for billing\n> fix &lt;b&gt; &amp; BILL-1\n<https://sp.example/access/r1|Open in Sallyport>' });
  });
});
