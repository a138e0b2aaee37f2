// The just-in-time story end to end in real headless Chromium, on real PostgreSQL, oidc-provider
// and Docker: alice requests access to a gated console, bob approves after re-authenticating at
// the IdP, alice's request page turns to approved by itself and she opens the console, dave
// watches it live and terminates it (alice sees who and why), and carol reads the whole story
// in the audit log.
import type { Browser as Chromium, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startTestBroker, type TestBroker } from './support/broker.js';
import { launchChromium, signInAs } from './support/chromium.js';
import { brokerContainers } from './support/docker.js';
import { writeConsoleCatalog } from './support/console-catalog.js';

const REAUTH_SECONDS = 3;
let t: TestBroker;
let chromium: Chromium;
beforeAll(async () => {
  [t, chromium] = await Promise.all([
    startTestBroker({ SALLYPORT_CATALOG: writeConsoleCatalog(inject('consoleImage')), CONSOLE_GREETING: 'hi', SALLYPORT_REAUTH_MAX_AGE: `${REAUTH_SECONDS}s` }),
    launchChromium(),
  ]);
});
afterAll(async () => {
  await chromium?.close();
  await t?.close();
});

async function person(username: string): Promise<{ page: Page; errors: string[] }> {
  const page = await (await chromium.newContext({ viewport: { width: 1100, height: 700 } })).newPage();
  page.setDefaultTimeout(10_000);
  const errors: string[] = [];
  page.on('console', (m) => {
    // A refused fetch (e.g. the 401 that asks for re-authentication) is logged by Chrome; that is expected.
    if (m.type() === 'error' && !m.location().url.startsWith(t.idp.issuer) && !/status of 401/.test(m.text())) errors.push(`${m.text()} @ ${m.location().url}`);
  });
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${t.url}/`);
  await signInAs(page, t.users, username);
  await page.waitForSelector('#profile');
  return { page, errors };
}

const textOf = (page: Page, selector: string) => page.locator(selector).innerText();

describe('just-in-time access in Chromium', () => {
  it('alice requests, bob approves after re-authenticating, alice opens the console, dave watches and terminates it, carol audits', async () => {
    const bob = await person('bob');
    const bobLoggedIn = Date.now();
    const alice = await person('alice');

    // Alice: the gated target offers Request access, not Open console.
    await alice.page.waitForSelector('[data-target="gated"] .request-access');
    expect(await alice.page.locator('[data-target="gated"] .open-console').count()).toBe(0);
    await alice.page.click('[data-target="gated"] .request-access');
    await alice.page.waitForSelector('#request-form');
    expect(await alice.page.inputValue('#request-target')).toBe('gated');
    await alice.page.fill('#request-reason', 'look into the stuck invoice');
    await alice.page.fill('#request-minutes', '20');
    await alice.page.click('#request-submit');
    await alice.page.waitForURL(/\/access\/[0-9a-f-]{36}$/);
    const requestId = alice.page.url().split('/').pop()!;
    expect(await textOf(alice.page, '#request-state')).toBe('Waiting for approval.');
    expect(await textOf(alice.page, '#approvers')).toMatch(/^bob \(groups: approvers\)/);
    expect(await textOf(alice.page, '.exact-console .image')).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(await textOf(alice.page, '.exact-console .command')).toBe('sh');
    expect(await alice.page.locator('#approve').count()).toBe(0);

    // Bob: the request waits on his Approvals page; his login is older than the re-auth window.
    await bob.page.click('#nav-approvals');
    await bob.page.waitForSelector(`#pending-requests tr[data-request-id="${requestId}"]`);
    await bob.page.click(`tr[data-request-id="${requestId}"] .review`);
    await bob.page.waitForSelector('#approve');
    // auth_time has whole-second granularity (the IdP floors it and compares whole seconds): only
    // past REAUTH + 1 s is bob's login stale for the IdP as well as the broker, every time.
    await new Promise((r) => setTimeout(r, Math.max(0, REAUTH_SECONDS * 1000 + 1500 - (Date.now() - bobLoggedIn))));
    await bob.page.fill('#decision-comment', 'ok for 20 min');
    await bob.page.click('#approve');
    // The broker asks for a fresh login: the IdP shows its form again although bob has a session there.
    await bob.page.waitForURL((u) => u.href.startsWith(t.idp.issuer));
    expect(await t.broker.db.query(`select 1 from access_decisions where request_id = $1`, [requestId]).then((r) => r.rowCount)).toBe(0);
    await signInAs(bob.page, t.users, 'bob');
    await bob.page.waitForURL(`${t.url}/access/${requestId}`);
    // Back on the request: the comment kept, and the next step said.
    await bob.page.waitForSelector('#action-error:has-text("You signed in again. Press Approve again to approve with your comment.")');
    expect(await bob.page.inputValue('#decision-comment')).toBe('ok for 20 min');
    await bob.page.click('#approve');
    await bob.page.waitForFunction(() => document.querySelector('#request-state')?.textContent?.startsWith('Approved until'));
    expect(await textOf(bob.page, '#decisions')).toMatch(/^bob: approve — “ok for 20 min”/);
    // The approver is not offered a console the grant would never open for him.
    expect(await bob.page.locator('#open-console').count()).toBe(0);
    expect(await bob.page.locator('#hand-back').count()).toBe(0);
    // The expiry reads with its zone and how far off it is.
    expect(await textOf(bob.page, '#request-state')).toMatch(/^Approved until .+(UTC|GMT).* \(in (19|20) minutes\)\.$/);

    // Alice: her page follows the state by itself and now offers Open console.
    await alice.page.waitForFunction(() => document.querySelector('#request-state')?.textContent?.startsWith('Approved until'));
    await alice.page.click('#open-console');
    await alice.page.waitForFunction(() => /~ \$/.test(document.querySelector('#terminal .xterm-rows')?.textContent ?? ''));
    const sessionId = await alice.page.getAttribute('#console-status', 'data-session-id');
    await alice.page.click('#terminal');
    await alice.page.keyboard.type('echo "approved-$((6*7))"\n');
    await alice.page.waitForFunction(() => /approved-42/.test((document.querySelector('#terminal .xterm-rows') as HTMLElement)?.innerText ?? ''));

    // Dave: the Live page lists the session; Watch shows the screen read-only and alice is told.
    const dave = await person('dave');
    await dave.page.click('#nav-live');
    await dave.page.waitForSelector(`tr[data-session-id="${sessionId}"]`);
    await dave.page.click(`tr[data-session-id="${sessionId}"] .watch`);
    await dave.page.waitForFunction(() => /approved-42/.test((document.querySelector('#watch-terminal .xterm-rows') as HTMLElement)?.innerText ?? ''));
    await alice.page.waitForFunction(() => document.querySelector('#console-watchers')?.textContent === 'watched by dave');
    await alice.page.keyboard.type('echo "seen-by-""dave"\n');
    await dave.page.waitForFunction(() => /seen-by-dave/.test((document.querySelector('#watch-terminal .xterm-rows') as HTMLElement)?.innerText ?? ''));
    // Terminate asks first, and wants a reason: an empty one is refused in the dialog; Cancel does nothing.
    await dave.page.click(`tr[data-session-id="${sessionId}"] .terminate`);
    await dave.page.waitForSelector('#terminate-dialog[open]');
    expect(await textOf(dave.page, '#terminate-dialog h2')).toBe("Terminate alice's console on gated?");
    await dave.page.click('#terminate-dialog-cancel');
    await dave.page.waitForSelector('#terminate-dialog', { state: 'detached' });
    await dave.page.click(`tr[data-session-id="${sessionId}"] .terminate`);
    await dave.page.click('#terminate-dialog-confirm');
    expect(await dave.page.locator('#terminate-dialog[open] [role=alert]').innerText()).toMatch(/Give a reason/);
    expect(await textOf(alice.page, '#console-status')).toBe('connected');
    await dave.page.fill('#terminate-dialog-reason', 'wrong customer');
    await dave.page.click('#terminate-dialog-confirm');
    await alice.page.waitForFunction(() => document.querySelector('#console-status')?.textContent?.startsWith('ended'));
    expect(await textOf(alice.page, '#console-status')).toMatch(/^ended \(terminated by dave: wrong customer\)/);
    // The end screen offers the recording and a new console.
    expect(await alice.page.getAttribute('#replay-this', 'href')).toBe(`/sessions/${sessionId}`);
    expect(await alice.page.getAttribute('#new-console', 'href')).toBe('/console/gated');
    await dave.page.waitForFunction(() => /session ended/.test(document.querySelector('#watch-status')?.textContent ?? ''));
    expect(brokerContainers(t.broker.instanceId)).toEqual([]);

    // Alice is done early: she hands the grant back (after confirming), and it is over.
    await alice.page.goto(`${t.url}/access/${requestId}`);
    await alice.page.click('#hand-back');
    await alice.page.click('#hand-back-dialog-confirm');
    await alice.page.waitForFunction(() => document.querySelector('#request-state')?.textContent === 'Revoked: handed back by the requester.');
    expect(await alice.page.locator('#open-console').count()).toBe(0);

    // Carol: the audit log tells the story, newest first, with people named.
    const carol = await person('carol');
    await carol.page.click('#nav-audit');
    await carol.page.waitForSelector('#audit-events');
    const story = await carol.page.$$eval('#audit-events tr.audit-event', (rows) =>
      rows.map((r) => `${r.querySelector('.actor')!.textContent} ${r.querySelector('.action')!.textContent}`),
    );
    const order = ['alice access.requested', 'bob auth.login', 'bob access.decision', 'bob access.approved', 'alice console.opened', 'dave console.watched', 'dave console.terminated', 'alice console.ended', 'alice access.handed_back'];
    const positions = order.map((line) => story.indexOf(line));
    expect(positions.every((p) => p >= 0), story.join('\n')).toBe(true);
    // Newest first: each step appears above the one before it.
    expect([...positions].sort((a, b) => b - a)).toEqual(positions);
    // The request's own trail, by its id (the console it opened is linked by its grant).
    await carol.page.goto(`${t.url}/audit?subject=${requestId}`);
    await carol.page.waitForSelector('#audit-events');
    const actions = await carol.page.$$eval('#audit-events .action', (cells) => cells.map((c) => c.textContent));
    expect(actions).toEqual(['access.handed_back', 'console.opened', 'access.grant_used', 'access.approved', 'access.decision', 'access.requested']);
    // The same trail as a download: the page's export link keeps the filter; the file reads oldest first.
    const csvHref = await carol.page.getAttribute('#audit-export-csv', 'href');
    expect(csvHref).toBe(`/api/audit/export?format=csv&subject=${requestId}`);
    const csv = await carol.page.evaluate(async (href) => (await fetch(href!)).text(), csvHref);
    expect(csv.trimEnd().split('\r\n').slice(1).map((line) => line.split(',')[4])).toEqual([...actions].reverse());

    for (const p of [alice, bob, dave, carol]) expect(p.errors).toEqual([]);
  });
});
