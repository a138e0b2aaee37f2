// Approval-gated consoles on real parts: a console opens only with a live grant for the exact
// console, and a live session ends within 5 s when its grant is revoked, handed back or expires, or when the
// operator changes the target (approvals never carry over to another image or command).
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Principal } from '../server/identity/index.js';
import { Browser, startTestBroker, type TestBroker } from './support/broker.js';
import { connectConsole, PROMPT } from './support/console-client.js';
import { brokerContainers } from './support/docker.js';
import { writeConsoleCatalog } from './support/console-catalog.js';

let t: TestBroker;
let catalog: string;
let cookie: string;
let alice: Principal;
let bob: Principal;

async function principal(username: string, roles: Principal['roles']): Promise<Principal> {
  const u = (await t.broker.db.query(`select * from users where username = $1`, [username])).rows[0];
  return { userId: u.id, issuer: u.issuer, subject: u.subject, username, displayName: null, email: null, groups: u.groups, roles, authTime: new Date() };
}
const containers = () => brokerContainers(t.broker.instanceId);
async function approvedGrant(): Promise<string> {
  const r = await t.broker.access.request(alice, 'gated', { reason: 'investigate', durationSeconds: 600 });
  await t.broker.access.decide(bob, r.id, 'approve', 'ok');
  return r.id;
}
async function openGated() {
  const c = await connectConsole(t.url, 'gated', { cookie });
  await c.waitFor(PROMPT);
  return c;
}

beforeAll(async () => {
  catalog = writeConsoleCatalog(inject('consoleImage'));
  t = await startTestBroker({ SALLYPORT_CATALOG: catalog, CONSOLE_GREETING: 'x' });
  const b = new Browser();
  await t.login(b, 'alice');
  cookie = `sallyport=${b.cookies(t.url).get('sallyport')}`;
  await t.login(new Browser(), 'bob');
  alice = await principal('alice', ['developer']);
  bob = await principal('bob', ['approver']);
});
afterAll(async () => {
  await t?.close();
});

describe('approval-gated consoles', () => {
  it('open with an approved grant, and the session names the grant', async () => {
    const c0 = await connectConsole(t.url, 'gated', { cookie });
    await c0.closed;
    // Someone who never had a grant reads plain words and where to go.
    expect(c0.messages[0]).toMatchObject({ type: 'error', code: 'APPROVAL_REQUIRED', message: 'gated needs approval: ask for access on the Access page, with a reason' });

    const grantId = await approvedGrant();
    const c = await openGated();
    const id = c.sessionId();
    const row = (await t.broker.db.query(`select grant_id from console_sessions where id = $1`, [id])).rows[0];
    expect(row.grant_id).toBe(grantId);
    const opened = (await t.broker.audit.list({ action: 'console.opened' })).find((e) => e.subject === id)!;
    expect(opened.details.grantId).toBe(grantId);
    c.type('exit\n');
    await c.closed;
  });

  it('give the grant use back when the console fails to start, in the same transaction as the failure', async () => {
    const r = await t.broker.access.request(alice, 'gated-missing', { reason: 'one go', durationSeconds: 600 });
    await t.broker.access.decide(bob, r.id, 'approve', 'ok');
    // One session allowed: the failed start must not spend it, so the second try fails the same way.
    for (let i = 0; i < 2; i++) {
      const c = await connectConsole(t.url, 'gated-missing', { cookie });
      await c.closed;
      expect(c.messages[0]).toMatchObject({ type: 'error', code: 'IMAGE_NOT_FOUND' });
    }
    expect((await t.broker.db.query(`select sessions_used from access_requests where id = $1`, [r.id])).rows[0].sessions_used).toBe(0);
    const failed = (await t.broker.audit.list({ action: 'console.failed', limit: 100 })).filter((e) => e.details.grantId === r.id);
    expect(failed.map((e) => e.details)).toEqual([
      expect.objectContaining({ code: 'IMAGE_NOT_FOUND', grantUseReturned: true }),
      expect.objectContaining({ code: 'IMAGE_NOT_FOUND', grantUseReturned: true }),
    ]);
    expect(containers()).toEqual([]);
  });

  it('end within 5 s when the grant is revoked', async () => {
    const grantId = await approvedGrant();
    const c = await openGated();
    const started = Date.now();
    await t.broker.access.revoke(bob, grantId, 'incident closed');
    const closed = await c.closed;
    expect(Date.now() - started).toBeLessThan(5000);
    expect(closed.reason).toBe('grant revoked');
    expect(c.messages.at(-1)).toMatchObject({ type: 'exit', reason: 'grant revoked' });
    expect(containers()).toEqual([]);
  });

  it('end within 5 s when the requester hands the grant back', async () => {
    const grantId = await approvedGrant();
    const c = await openGated();
    const started = Date.now();
    expect((await t.broker.db.query(`select grant_id from console_sessions where id = $1`, [c.sessionId()])).rows[0].grant_id).toBe(grantId);
    await t.broker.access.handBack(alice, grantId);
    const closed = await c.closed;
    expect(Date.now() - started).toBeLessThan(5000);
    expect(closed.reason).toBe('grant revoked');
    expect(containers()).toEqual([]);
  });

  it('end within 5 s when the grant expires, and the expiry is audited', async () => {
    const grantId = await approvedGrant();
    const c = await openGated();
    const started = Date.now();
    await t.broker.db.query(`update access_requests set expires_at = now() where id = $1`, [grantId]);
    const closed = await c.closed;
    expect(Date.now() - started).toBeLessThan(5000);
    expect(closed.reason).toBe('grant expired');
    expect(containers()).toEqual([]);
    const expired = await t.broker.audit.list({ action: 'access.expired' });
    expect(expired.some((e) => e.subject === grantId)).toBe(true);
  });

  it('do not open when the operator changed the command since the approval', async () => {
    await approvedGrant();
    const original = readFileSync(catalog, 'utf8');
    writeFileSync(catalog, original.replace(/(name: gated[^\n]*?)command: \[sh\]/, '$1command: [sh, -l]'));
    try {
      expect((await t.broker.catalog.reload()).ok).toBe(true);
      const c = await connectConsole(t.url, 'gated', { cookie });
      await c.closed;
      expect(c.messages[0]).toMatchObject({ type: 'error', code: 'APPROVAL_REQUIRED' });
      expect(String(c.messages[0]!.message)).toMatch(/changed since your access was approved \(image, command or nodes\): approvals are for the exact console, so ask again/);
      expect(containers()).toEqual([]);
    } finally {
      writeFileSync(catalog, original);
      await t.broker.catalog.reload();
    }
  });
});

describe('several grants in force', () => {
  it('a console opened from a request’s page runs under that grant, says which, and is flagged beside an equal one', async () => {
    // alice holds A (long, INC-4711) and asks for B (short, "quick check") beside it.
    const a = await t.broker.access.request(alice, 'gated', { reason: 'INC-4711', durationSeconds: 1800 });
    await t.broker.access.decide(bob, a.id, 'approve', 'ok');
    const b = await t.broker.access.request(alice, 'gated', { reason: 'quick check', durationSeconds: 600 });
    // Requester and approver see that an equal grant is already in force.
    const pending = await t.broker.access.get(bob, b.id);
    expect(pending.equalGrantInForce).toMatchObject({ id: a.id, reason: 'INC-4711' });
    await t.broker.access.decide(bob, b.id, 'approve', 'ok');

    // Opened from B's page: under B, whatever else is in force — and the user is told which.
    const c = await connectConsole(t.url, 'gated', { cookie, grant: b.id });
    await c.waitFor(PROMPT);
    const opened = (await t.broker.db.query(`select details from audit_events where action = 'console.opened' and subject = $1`, [c.sessionId()])).rows[0].details;
    expect(opened.grantId).toBe(b.id);
    expect(c.messages.some((m) => m.type === 'notice' && String(m.message).includes(`"quick check" (request ${b.id})`))).toBe(true);
    // Bound to B: revoking B ends it, though A is still in force.
    await t.broker.access.revoke(bob, b.id, 'done');
    const closed = await c.closed;
    expect(closed.reason).toMatch(/revoked|grant/);

    // From A's page: under A. A grant that cannot open this console is refused by name.
    const ca = await connectConsole(t.url, 'gated', { cookie, grant: a.id });
    await ca.waitFor(PROMPT);
    expect((await t.broker.db.query(`select details->>'grantId' as g from audit_events where action = 'console.opened' and subject = $1`, [ca.sessionId()])).rows[0].g).toBe(a.id);
    ca.type('exit\n');
    await ca.closed;
    const refused = await connectConsole(t.url, 'gated', { cookie, grant: b.id });
    await refused.closed;
    expect(refused.messages[0]).toMatchObject({ type: 'error', code: 'APPROVAL_REQUIRED', message: expect.stringMatching(new RegExp(`request ${b.id} is revoked`)) });
  }, 60_000);
});

describe('time left', () => {
  it('tells the browser when the console ends and why, and warns a minute before the grant ends it', async () => {
    const r = await t.broker.access.request(alice, 'gated', { reason: 'short', durationSeconds: 62 });
    await t.broker.access.decide(bob, r.id, 'approve', 'ok');
    const grantEnds = (await t.broker.db.query(`select expires_at from access_requests where id = $1`, [r.id])).rows[0].expires_at as Date;
    const c = await connectConsole(t.url, 'gated', { cookie, grant: r.id });
    await c.waitFor(PROMPT);
    const limits = c.messages.find((m) => m.type === 'limits') as { endsAt: string; because: string; idleSeconds: number };
    expect(limits).toMatchObject({ because: 'access', idleSeconds: 15 * 60 });
    expect(Math.abs(Date.parse(limits.endsAt) - grantEnds.getTime())).toBeLessThan(1000);
    // Sixty-two seconds of access: the one-minute warning comes about two seconds in.
    await expect.poll(() => c.messages.some((m) => m.type === 'notice' && /Your access ends in 1 minute\. Save your work, or ask for more time/.test(String(m.message))), { timeout: 10_000 }).toBe(true);
    c.type('exit\n');
    await c.closed;
    // Without a grant, the console's own maximum duration is what ends it.
    const s = await connectConsole(t.url, 'shell', { cookie });
    await s.waitFor(PROMPT);
    expect(s.messages.find((m) => m.type === 'limits')).toMatchObject({ because: 'console' });
    s.type('exit\n');
    await s.closed;
  }, 30_000);
});
