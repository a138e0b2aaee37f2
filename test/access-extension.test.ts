// More time for a console: alice's grant is about to end while her console runs; she asks for an
// extension (a request of its own, with a reason), bob approves it, and the console runs on past
// the first grant's end, now under the extension: told in the console, its countdown moved, the
// move audited. What may not be extended is refused by name. (The first grant's end is brought
// forward in the database: a grant lasts at least a minute, which a test need not wait.)
import type { Browser as Chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { launchChromium, signInAs } from './support/chromium.js';
import { apiSession, type ApiSession } from './support/api-session.js';
import { startTestBroker, type TestBroker } from './support/broker.js';
import { connectConsole, PROMPT } from './support/console-client.js';
import { writeConsoleCatalog } from './support/console-catalog.js';

let t: TestBroker;
let alice: ApiSession, bob: ApiSession;
let chromium: Chromium | undefined;

beforeAll(async () => {
  t = await startTestBroker({ SALLYPORT_CATALOG: writeConsoleCatalog(inject('consoleImage')), CONSOLE_GREETING: 'x' });
  [alice, bob] = [await apiSession(t, 'alice'), await apiSession(t, 'bob')];
});
afterAll(async () => {
  await chromium?.close();
  await t?.close();
});

async function granted(reason: string): Promise<string> {
  const asked = await alice.post('/api/access-requests', { target: 'gated', reason, durationSeconds: 600 });
  expect(asked.status).toBe(201);
  expect((await bob.post(`/api/access-requests/${asked.body.id}/decision`, { decision: 'approve', comment: 'ok' })).status).toBe(200);
  return asked.body.id as string;
}

describe('an extension of a grant', () => {
  it('keeps the console running past the first grant, under the extension, and tells its user', async () => {
    const first = await granted('INC-1 first look');
    const c = await connectConsole(t.url, 'gated', { cookie: `sallyport=${alice.browser.cookies(t.url).get('sallyport')}`, grant: first });
    await c.waitFor(PROMPT);
    const id = c.sessionId();

    const ext = await alice.post(`/api/access-requests/${first}/extend`, { reason: 'INC-1 needs another 20 minutes', durationSeconds: 1200 });
    expect(ext.status).toBe(201);
    expect(ext.body).toMatchObject({ target: 'gated', status: 'pending', extends: first, reason: 'INC-1 needs another 20 minutes' });
    // Approvers see it beside the original; only one waits at a time.
    const decide = (await bob.get('/api/access-requests?scope=decide')).body.requests as Array<{ id: string; extends: string | null }>;
    expect(decide.find((r) => r.id === ext.body.id)?.extends).toBe(first);
    const again = await alice.post(`/api/access-requests/${first}/extend`, { reason: 'twice', durationSeconds: 600 });
    expect(again.status).toBe(409);
    expect(again.body.error.message).toContain(ext.body.id);

    expect((await bob.post(`/api/access-requests/${ext.body.id}/decision`, { decision: 'approve', comment: 'go on' })).status).toBe(200);
    // The first grant ends in three seconds; the console must outlive it.
    await t.broker.db.query(`update access_requests set expires_at = now() + interval '3 seconds' where id = $1`, [first]);
    await expect
      .poll(() => c.messages.some((m) => m.type === 'notice' && new RegExp(`access was extended \\(request ${ext.body.id}\\): this console may run until`).test(String(m.message))), { timeout: 10_000 })
      .toBe(true);
    const limits = c.messages.filter((m) => m.type === 'limits');
    expect(Date.parse(String(limits.at(-1)!.endsAt))).toBeGreaterThan(Date.now() + 15 * 60_000);
    await new Promise((r) => setTimeout(r, 4500));
    c.type('echo "still-""here"\n');
    await c.waitFor(/^still-here\r?$/m);
    expect((await t.broker.db.query(`select grant_id, ended_at from console_sessions where id = $1`, [id])).rows[0]).toEqual({ grant_id: ext.body.id, ended_at: null });
    const extended = (await t.broker.audit.list({ action: 'access.extended', limit: 10 })).find((e) => e.subject === ext.body.id);
    expect(extended?.details).toMatchObject({ target: 'gated', extends: first, sessions: [id] });
    c.type('exit\n');
    await c.closed;
  }, 60_000);

  it('is refused for someone else\'s grant, a grant no longer in force, and a request still pending', async () => {
    const mine = await granted('INC-2');
    // bob may see alice's request (he approves) but not extend it.
    const bobs = await bob.post(`/api/access-requests/${mine}/extend`, { reason: 'mine now', durationSeconds: 600 });
    expect(bobs.status).toBe(403);
    expect(bobs.body.error.message).toBe('you may not request access to gated');
    await t.broker.db.query(`update access_requests set expires_at = now() - interval '1 second' where id = $1`, [mine]);
    const late = await alice.post(`/api/access-requests/${mine}/extend`, { reason: 'too late', durationSeconds: 600 });
    expect(late.status).toBe(409);
    expect(late.body.error.message).toMatch(/not a grant in force \(it is expired\): ask for access anew/);
    const pending = await alice.post('/api/access-requests', { target: 'gated', reason: 'INC-3', durationSeconds: 600 });
    expect((await alice.post(`/api/access-requests/${pending.body.id}/extend`, { reason: 'x', durationSeconds: 600 })).status).toBe(409);
  });

  it('is asked for on the request page in a browser, and shown to the approver as more time for the earlier grant', async () => {
    const first = await granted('INC-4 in the browser');
    chromium = await launchChromium();
    const page = await (await chromium.newContext({ viewport: { width: 1100, height: 700 } })).newPage();
    page.setDefaultTimeout(10_000);
    await page.goto(`${t.url}/access/${first}`);
    await signInAs(page, t.users, 'alice');
    await page.waitForURL(`${t.url}/access/${first}`);
    await page.fill('#extend-reason', 'INC-4 runs long');
    await page.fill('#extend-minutes', '15');
    await page.click('#extend button[type=submit]');
    await page.waitForURL((u) => /\/access\/[0-9a-f-]{36}$/.test(u.pathname) && !u.pathname.endsWith(first));
    await page.waitForSelector('#extends');
    expect(await page.textContent('#extends')).toContain('Asks more time for an earlier grant');
    expect(await page.getAttribute('#extends a', 'href')).toBe(`/access/${first}`);
    const id = page.url().split('/').at(-1)!;
    expect((await bob.get(`/api/access-requests/${id}`)).body).toMatchObject({ extends: first, reason: 'INC-4 runs long', durationSeconds: 900, status: 'pending' });
  }, 60_000);
});
