// The Live page's powers on real Docker: an admin lists running sessions, watches one read-only
// (seeing the screen so far and what follows; the user is told who watches) and terminates it
// (the user is told who ended it, the container is gone). Each step is audited; nobody else
// may do any of it.
import type { Browser as Chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { launchChromium, signInAs } from './support/chromium.js';
import { startTestBroker, type TestBroker } from './support/broker.js';
import { apiSession, type ApiSession } from './support/api-session.js';
import { connectConsole, PROMPT, watchConsole } from './support/console-client.js';
import { brokerContainers } from './support/docker.js';
import { writeConsoleCatalog } from './support/console-catalog.js';

let t: TestBroker;
let alice: ApiSession, carol: ApiSession, dave: ApiSession;
let chromium: Chromium | undefined;
const cookieOf = (s: ApiSession) => `sallyport=${s.browser.cookies(t.url).get('sallyport')}`;

beforeAll(async () => {
  t = await startTestBroker({ SALLYPORT_CATALOG: writeConsoleCatalog(inject('consoleImage')), CONSOLE_GREETING: 'x' });
  [alice, carol, dave] = (await Promise.all(['alice', 'carol', 'dave'].map((u) => apiSession(t, u)))) as [ApiSession, ApiSession, ApiSession];
});
afterAll(async () => {
  await chromium?.close();
  await t?.close();
});

describe('live sessions', () => {
  it('an admin watches a session live and read-only, then terminates it', async () => {
    const c = await connectConsole(t.url, 'shell', { cookie: cookieOf(alice) });
    await c.waitFor(PROMPT);
    const id = c.sessionId();
    c.type('echo "before-""watch"\n');
    await c.waitFor(/^before-watch\r?$/m);

    const live = await dave.get('/api/live');
    expect(live.status).toBe(200);
    expect(live.body.sessions).toEqual([expect.objectContaining({ id, username: 'alice', target: 'shell', watchers: [] })]);
    expect((await alice.get('/api/live')).status).toBe(403);
    expect((await carol.get('/api/live')).status).toBe(403);

    // Carol (auditor) may replay, not watch live.
    const denied = await watchConsole(t.url, id, { cookie: cookieOf(carol) });
    await denied.closed;
    expect(denied.messages[0]).toMatchObject({ type: 'error', code: 'ACCESS_DENIED' });
    // A watcher from another origin is refused before the upgrade.
    await expect(watchConsole(t.url, id, { cookie: cookieOf(dave), origin: 'https://evil.example' })).rejects.toThrow(/403/);

    const w = await watchConsole(t.url, id, { cookie: cookieOf(dave) });
    // The screen so far, then what alice types next.
    await w.waitFor(/before-watch/);
    expect(w.messages.find((m) => m.type === 'watching')).toMatchObject({ sessionId: id, cols: 80, rows: 24 });
    await expect.poll(() => c.messages.find((m) => m.type === 'watchers')).toEqual({ type: 'watchers', names: ['dave'] });
    c.type('echo "while-""watched"\n');
    await w.waitFor(/^while-watched\r?$/m);
    expect((await dave.get('/api/live')).body.sessions[0].watchers).toEqual(['dave']);

    // Watching is read-only: input from the watcher closes the watch and reaches nothing.
    w.type('touch /tmp/pwned\n');
    expect((await w.closed).reason).toBe('watching is read-only');
    await expect.poll(() => c.messages.filter((m) => m.type === 'watchers').at(-1)).toEqual({ type: 'watchers', names: [] });
    c.type('ls /tmp/pwned || echo "not-""there"\n');
    await c.waitFor(/^not-there\r?$/m);

    // Terminate needs CSRF and the admin role.
    expect((await dave.post(`/api/sessions/${id}/terminate`, { reason: 'x' }, { csrf: null })).status).toBe(403);
    expect((await alice.post(`/api/sessions/${id}/terminate`, { reason: 'x' })).status).toBe(403);
    const w2 = await watchConsole(t.url, id, { cookie: cookieOf(dave) });
    await w2.waitFor(/not-there/);
    const started = Date.now();
    const r = await dave.post(`/api/sessions/${id}/terminate`, { reason: 'leaked a secret on screen' });
    expect(r.status).toBe(200);
    const closed = await c.closed;
    expect(Date.now() - started).toBeLessThan(5000);
    expect(c.messages.find((m) => m.type === 'exit')).toMatchObject({ reason: 'terminated by dave: leaked a secret on screen' });
    expect(closed.reason).toBe('terminated by dave: leaked a secret on screen');
    await w2.closed;
    expect(w2.messages.at(-1)).toMatchObject({ type: 'exit', reason: 'terminated by dave: leaked a secret on screen' });
    expect(brokerContainers(t.broker.instanceId)).toEqual([]);
    expect((await dave.get('/api/live')).body.sessions).toEqual([]);
    expect((await dave.post(`/api/sessions/${id}/terminate`, {})).status).toBe(404);

    const events = (await t.broker.audit.list({ limit: 1000 })).filter((e) => e.subject === id).map((e) => [e.action, e.details]);
    expect(events).toContainEqual(['console.watched', { watcher: 'dave', username: 'alice', target: 'shell' }]);
    expect(events).toContainEqual(['console.terminated', { by: 'dave', username: 'alice', target: 'shell', reason: 'leaked a secret on screen', clientAddress: '127.0.0.1' }]);
    expect(events.at(-1)![0]).toBe('console.ended');
    expect((events.at(-1)![1] as { reason: string }).reason).toBe('terminated by dave: leaked a secret on screen');

    // The auditor's replay marks both along the scrubber; a mark seeks there.
    chromium = await launchChromium();
    const page = await (await chromium.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
    page.setDefaultTimeout(10_000);
    await page.goto(`${t.url}/sessions/${id}`);
    await signInAs(page, t.users, 'carol');
    await page.waitForSelector('#markers .marker[data-action="console.terminated"]');
    expect(await page.getAttribute('#markers .marker[data-action="console.watched"]', 'title')).toMatch(/watched by dave$/);
    expect(await page.getAttribute('#markers .marker[data-action="console.terminated"]', 'title')).toMatch(/terminated by dave: leaked a secret on screen$/);
    await page.click('#markers .marker[data-action="console.terminated"]');
    await page.waitForFunction(() => Number(document.querySelector('#player')?.getAttribute('data-seeks')) >= 1);
  }, 60_000);
});
