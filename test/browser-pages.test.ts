// The web app as each role meets it, in real Chromium at 1280 px and 390 px: every page has its
// own title, no page is wider than the window, every control has a label; Replay and Watch
// scale a 200-column recording to fit; the replay answers its keyboard shortcuts; times show
// their zone; pages that refresh keep focus and what was typed; the Sessions filters and
// paging; an HTML 404 page, the favicon, and the styled dev IdP sign-in. It also takes the
// screenshots in docs/screenshots, so they show the app as it is.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser as Chromium, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { apiSession, type ApiSession } from './support/api-session.js';
import { startTestBroker, type TestBroker } from './support/broker.js';
import { launchChromium, signInAs } from './support/chromium.js';
import { connectConsole, PROMPT, type ConsoleConnection } from './support/console-client.js';
import { writeConsoleCatalog } from './support/console-catalog.js';

const SHOTS = join(import.meta.dirname, '..', 'docs', 'screenshots');
let t: TestBroker;
let chromium: Chromium;
let wideSession: string;
let live: ConsoleConnection;
let aliceApi: ApiSession;
let pendingRequest: string;

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  [t, chromium] = await Promise.all([startTestBroker({ SALLYPORT_CATALOG: writeConsoleCatalog(inject('consoleImage')), CONSOLE_GREETING: 'x' }), launchChromium()]);
  aliceApi = await apiSession(t, 'alice');
  const cookie = `sallyport=${aliceApi.browser.cookies(t.url).get('sallyport')}`;
  // A recording 200 columns wide, with a line that spans them all.
  const wide = await connectConsole(t.url, 'shell', { cookie, open: { cols: 200, rows: 30 } });
  await wide.waitFor(PROMPT);
  wideSession = wide.sessionId();
  wide.type(`printf '%0200d\\n' 0 | tr 0 '='; echo "wide-""done"\n`);
  await wide.waitFor(/^wide-done\r?$/m);
  await new Promise((r) => setTimeout(r, 300));
  wide.type('exit\n');
  await wide.closed;
  // One console stays open for the Live page and the live badge.
  live = await connectConsole(t.url, 'shell', { cookie });
  await live.waitFor(PROMPT);
  pendingRequest = (await aliceApi.post('/api/access-requests', { target: 'gated', reason: 'check the nightly export', durationSeconds: 1800 })).body.id;
});
afterAll(async () => {
  live?.type('exit\n');
  await chromium?.close();
  await t?.close();
});

async function personAt(username: string, width: number, options: { timezoneId?: string } = {}): Promise<{ page: Page; context: BrowserContext; errors: string[] }> {
  const context = await chromium.newContext({ viewport: { width, height: width > 600 ? 860 : 844 }, timezoneId: options.timezoneId ?? 'UTC', locale: 'en-GB' });
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/status of 404/.test(m.text())) errors.push(m.text());
  });
  await page.goto(`${t.url}/`);
  await signInAs(page, t.users, username);
  await page.waitForSelector('#profile');
  return { page, context, errors };
}

/** Controls nobody could name: no label, aria-label(ledby), title or text of their own. */
const unlabelled = (page: Page) =>
  page.$$eval('input:not([type=hidden]), select, textarea, button, a[href]', (nodes) =>
    nodes
      .filter((n) => (n as HTMLElement).offsetParent !== null)
      .filter((n) => {
        const e = n as HTMLInputElement;
        const named = (e.getAttribute('aria-label') ?? '').trim() || e.getAttribute('aria-labelledby') || (e.title ?? '').trim();
        const labelled = e.labels ? [...e.labels].some((l) => l.textContent!.trim().length > 0) : false;
        const text = ['BUTTON', 'A'].includes(e.tagName) && e.textContent!.trim().length > 0;
        return !(named || labelled || text);
      })
      .map((n) => n.outerHTML.slice(0, 120)),
  );

const PAGES: Array<{ name: string; path: () => string; ready: string; shot?: boolean }> = [
  { name: 'home', path: () => '/', ready: '#targets' },
  { name: 'sessions', path: () => '/sessions', ready: '#sessions', shot: true },
  { name: 'replay', path: () => `/sessions/${wideSession}`, ready: '#player .xterm-screen', shot: true },
  { name: 'request-access', path: () => '/access', ready: '#my-requests' },
  { name: 'access-request', path: () => `/access/${pendingRequest}`, ready: '#request-state', shot: true },
  { name: 'approvals', path: () => '/approvals', ready: '#pending-requests', shot: true },
  { name: 'live', path: () => '/live', ready: '#live-sessions', shot: true },
  { name: 'fleet', path: () => '/fleet', ready: '#fleet-status:not(:text("Checking"))' },
  { name: 'search', path: () => '/search', ready: '#search-form' },
  { name: 'audit', path: () => '/audit', ready: '#audit-events', shot: true },
];

describe('the web app in Chromium', () => {
  it('every page has its own title, fits 1280 px and 390 px without scrolling sideways, and labels every control', async () => {
    for (const width of [1280, 390]) {
      const dave = await personAt('dave', width);
      const titles = new Set<string>();
      for (const p of PAGES) {
        await dave.page.goto(`${t.url}${p.path()}`);
        await dave.page.waitForSelector(p.ready).catch((err: Error) => {
          throw new Error(`${p.name} at ${width} px: ${err.message}`);
        });
        await dave.page.waitForTimeout(150); // a scaled terminal settles after one more frame
        const title = await dave.page.title();
        expect(title, p.name).toMatch(/ · Sallyport$/);
        titles.add(title);
        const [scroll, inner] = await dave.page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
        const widest = await dave.page.evaluate(
          (w) => [...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right > w + 1).map((e) => `${e.tagName}.${e.className}`).slice(0, 5).join(' '),
          inner,
        );
        expect(scroll, `${p.name} at ${width} px is ${scroll} px wide: ${widest}`).toBeLessThanOrEqual(inner);
        expect(await unlabelled(dave.page), `${p.name} at ${width} px`).toEqual([]);
        if (p.shot && (width === 1280 || ['replay', 'sessions'].includes(p.name))) {
          if (p.name === 'replay') {
            await dave.page.keyboard.press('End');
            await dave.page.waitForFunction(() => /wide-done/.test((document.querySelector('#player .xterm-rows') as HTMLElement).innerText));
          }
          await dave.page.screenshot({ path: join(SHOTS, `${p.name}-${width}.png`) });
        }
      }
      expect(titles.size).toBe(PAGES.length);
      expect(dave.errors).toEqual([]);
      await dave.context.close();
      // Home as a developer sees it: her targets, one needing approval.
      const alice = await personAt('alice', width);
      await alice.page.waitForSelector('[data-target="gated"]');
      expect(await alice.page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);
      expect(await unlabelled(alice.page)).toEqual([]);
      await alice.page.screenshot({ path: join(SHOTS, `home-${width}.png`) });
      await alice.context.close();
    }
  });

  it('Replay fits a 200-column recording to the window and answers Space, arrows, Home/End and < >', async () => {
    for (const width of [1280, 390]) {
      const carol = await personAt('carol', width);
      await carol.page.goto(`${t.url}/sessions/${wideSession}`);
      await carol.page.waitForSelector('#player .xterm-screen');
      await carol.page.waitForTimeout(200);
      const fit = await carol.page.evaluate(() => {
        const screen = document.querySelector('#player .xterm-screen') as HTMLElement;
        const box = document.querySelector('.player-box') as HTMLElement;
        return { screen: screen.getBoundingClientRect().width, box: box.clientWidth, cols: document.querySelector('#player .xterm-rows > div')!.textContent!.length };
      });
      expect(fit.screen, `at ${width} px`).toBeLessThanOrEqual(fit.box);
      // Scaled, not cut: the whole 200-column line is drawn.
      await carol.page.keyboard.press('End');
      await carol.page.waitForFunction(() => [...document.querySelectorAll('#player .xterm-rows > div')].some((row) => /={200}/.test(row.textContent ?? '')));
      expect(await carol.page.textContent('#clock')).toMatch(/^(\d+\.\d) \/ \1 s$/);
      await carol.page.keyboard.press('Home');
      await carol.page.waitForFunction(() => document.querySelector('#clock')?.textContent?.startsWith('0.0 /'));
      await carol.page.keyboard.press('>');
      expect(await carol.page.inputValue('#speed')).toBe('2');
      await carol.page.keyboard.press('<');
      await carol.page.keyboard.press('<');
      expect(await carol.page.inputValue('#speed')).toBe('0.5');
      await carol.page.keyboard.press('Space');
      expect(await carol.page.textContent('#play')).toBe('Pause');
      await carol.page.keyboard.press('Space');
      expect(await carol.page.textContent('#play')).toBe('Play');
      await carol.page.keyboard.press('ArrowRight');
      await carol.page.waitForFunction(() => /^[1-9]/.test(document.querySelector('#clock')?.textContent ?? ''));
      expect(carol.errors).toEqual([]);
      await carol.context.close();
    }
  });

  it('Watch scales a wide live console to the Live page at 390 px', async () => {
    const cookie = `sallyport=${aliceApi.browser.cookies(t.url).get('sallyport')}`;
    const wide = await connectConsole(t.url, 'shell', { cookie, open: { cols: 200, rows: 20 } });
    await wide.waitFor(PROMPT);
    const dave = await personAt('dave', 390);
    await dave.page.goto(`${t.url}/live`);
    await dave.page.click(`tr[data-session-id="${wide.sessionId()}"] .watch`);
    await dave.page.waitForSelector('#watch-terminal .xterm-screen');
    wide.type(`printf '%0200d\\n' 0 | tr 0 '#'\n`);
    await dave.page.waitForFunction(() => [...document.querySelectorAll('#watch-terminal .xterm-rows > div')].some((row) => /#{200}/.test(row.textContent ?? '')));
    await dave.page.waitForTimeout(200);
    const [screen, scroll, inner, box] = await dave.page.evaluate(() => [
      (document.querySelector('#watch-terminal .xterm-screen') as HTMLElement).getBoundingClientRect().right,
      document.documentElement.scrollWidth,
      window.innerWidth,
      (document.querySelector('#watch-terminal') as HTMLElement).clientWidth,
    ]);
    expect(screen, `box ${box} px`).toBeLessThanOrEqual(inner);
    expect(scroll).toBeLessThanOrEqual(inner);
    wide.type('exit\n');
    await wide.closed;
    await dave.context.close();
  });

  it('pages that refresh keep focus, what was typed and every unchanged node, while news arrives', async () => {
    const bob = await personAt('bob', 1280);
    await bob.page.goto(`${t.url}/approvals`);
    await bob.page.waitForSelector(`tr[data-request-id="${pendingRequest}"] .review`);
    await bob.page.focus(`tr[data-request-id="${pendingRequest}"] .review`);
    // Mark the nodes: a rebuilt page would lose these properties.
    await bob.page.evaluate(() => {
      (document.activeElement as HTMLElement & { mark?: number }).mark = 1;
      (document.querySelector('h1') as HTMLElement & { mark?: number }).mark = 2;
    });
    const second = (await aliceApi.post('/api/access-requests', { target: 'gated', reason: 'second look', durationSeconds: 600 })).body.id;
    await bob.page.waitForSelector(`tr[data-request-id="${second}"]`, { timeout: 8000 });
    expect(await bob.page.evaluate(() => [(document.activeElement as HTMLElement & { mark?: number }).mark, (document.querySelector('h1') as HTMLElement & { mark?: number }).mark])).toEqual([1, 2]);
    expect(await bob.page.evaluate(() => document.activeElement?.closest('tr')?.dataset.requestId)).toBe(pendingRequest);
    // The whole page is not a live region: only status lines announce.
    expect(await bob.page.getAttribute('#app', 'aria-live')).toBeNull();

    // On a request's page, a comment being typed survives the refreshes, focus too.
    await bob.page.goto(`${t.url}/access/${second}`);
    await bob.page.click('#decision-comment');
    await bob.page.keyboard.type('looks fine');
    await aliceApi.post(`/api/access-requests/${second}/withdraw`, {});
    await bob.page.waitForFunction(() => document.querySelector('#request-state')?.textContent === 'Withdrawn by the requester.', null, { timeout: 8000 });
    expect(await bob.page.locator('#approve').count()).toBe(0);
    await bob.page.goto(`${t.url}/access/${pendingRequest}`);
    await bob.page.click('#decision-comment');
    await bob.page.keyboard.type('typing slowly');
    await bob.page.waitForTimeout(4500); // two refreshes
    expect(await bob.page.inputValue('#decision-comment')).toBe('typing slowly');
    expect(await bob.page.evaluate(() => document.activeElement?.id)).toBe('decision-comment');
    await bob.context.close();
  });

  it('times read in the viewer’s zone with a relative hint; the Sessions page filters and pages', async () => {
    const carol = await personAt('carol', 1280, { timezoneId: 'Asia/Kolkata' });
    await carol.page.goto(`${t.url}/sessions`);
    await carol.page.waitForSelector('#sessions');
    const started = await carol.page.locator(`tr[data-session-id="${wideSession}"] time`).innerText();
    expect(started).toMatch(/GMT\+5:30/);
    expect(await carol.page.locator(`tr[data-session-id="${wideSession}"] .relative`).innerText()).toMatch(/^\((now|\d+ (seconds?|minutes?) ago)\)$/);
    expect(await carol.page.locator(`tr[data-session-id="${wideSession}"] .ended-by`).innerText()).toBe('process');
    expect(await carol.page.locator(`tr[data-session-id="${wideSession}"] .bytes`).innerText()).toMatch(/^\d+(\.\d)? (B|KiB)$/);
    // The open console is marked live.
    await carol.page.waitForSelector(`tr[data-session-id="${live.sessionId()}"] .badge.live`);

    // Filters: only what is given goes into the address.
    await carol.page.selectOption('#filter-state', 'ended');
    await carol.page.fill('#filter-user', 'alice');
    await carol.page.click('#filter-apply');
    await carol.page.waitForURL(`${t.url}/sessions?user=alice&state=ended`);
    await carol.page.waitForSelector('#sessions');
    expect(await carol.page.locator(`tr[data-session-id="${live.sessionId()}"]`).count()).toBe(0);
    expect(await carol.page.locator(`tr[data-session-id="${wideSession}"]`).count()).toBe(1);
    expect(await carol.page.inputValue('#filter-user')).toBe('alice');
    await carol.page.selectOption('#filter-via', 'ssh');
    await carol.page.click('#filter-apply');
    await carol.page.waitForSelector('#sessions-empty');
    expect(await carol.page.textContent('#sessions-empty')).toBe('No session matches.');

    // Paging: one at a time, older and back to the newest.
    await carol.page.goto(`${t.url}/sessions?limit=1`);
    const first = await carol.page.locator('#sessions tbody tr').getAttribute('data-session-id');
    await carol.page.click('#page-older');
    await carol.page.waitForURL(/before=/);
    const second = await carol.page.locator('#sessions tbody tr').getAttribute('data-session-id');
    expect(second).not.toBe(first);
    await carol.page.click('#page-newest');
    await carol.page.waitForURL(`${t.url}/sessions?limit=1`);
    expect(await carol.page.locator('#sessions tbody tr').getAttribute('data-session-id')).toBe(first);
    // A bad filter in the address is named, not a blank page.
    await carol.page.goto(`${t.url}/sessions?via=ftp`);
    expect(await carol.page.locator('#sessions-error').innerText()).toMatch(/via/);
    expect(carol.errors.filter((e) => !/status of 400/.test(e))).toEqual([]);
    await carol.context.close();
  });

  it('an unknown page is an HTML 404 in the app’s look; the favicon and the dev IdP sign-in are styled', async () => {
    const carol = await personAt('carol', 390);
    const res = await carol.page.goto(`${t.url}/no-such-page`);
    expect(res?.status()).toBe(404);
    expect(await carol.page.title()).toBe('Not found · Sallyport');
    expect(await carol.page.locator('#not-found').innerText()).toBe('There is no page at /no-such-page.');
    // Styled by /page.css (the CSP allows no inline style): main is a card, not the default block.
    expect(await carol.page.$eval('main', (m) => getComputedStyle(m).borderTopStyle)).toBe('solid');
    // The API still answers JSON for what it does not know.
    const api = await carol.page.evaluate(async () => (await fetch('/api/nope', { headers: { accept: 'application/json' } })).json());
    expect(api.error.code).toBe('NOT_FOUND');
    const icon = await carol.page.evaluate(async () => {
      const r = await fetch('/favicon.ico');
      return [r.status, r.headers.get('content-type'), (await r.text()).startsWith('<svg')];
    });
    expect(icon).toEqual([200, 'image/svg+xml', true]);
    expect(await carol.page.title()).toBe('Not found · Sallyport');
    // The dev IdP's sign-in page uses the same stylesheet.
    const fresh = await (await chromium.newContext({ viewport: { width: 390, height: 844 } })).newPage();
    await fresh.goto(`${t.url}/`);
    await fresh.waitForSelector('#sign-in');
    expect(await fresh.title()).toBe('Sign in · Sallyport dev IdP');
    expect(await fresh.$eval('#sign-in', (b) => getComputedStyle(b).backgroundColor)).toBe('rgb(36, 87, 197)');
    await fresh.screenshot({ path: join(SHOTS, 'dev-idp-sign-in-390.png') });
    await fresh.context().close();
    // Dark mode is kept: a dark system scheme gets the dark palette, in the app and on its own pages.
    const dark = await (await chromium.newContext({ colorScheme: 'dark' })).newPage();
    await dark.goto(`${t.url}/`);
    await dark.waitForSelector('#sign-in');
    expect(await dark.$eval('body', (b) => getComputedStyle(b).backgroundColor)).toBe('rgb(15, 20, 26)');
    await signInAs(dark, t.users, 'carol');
    await dark.waitForSelector('#profile');
    expect(await dark.$eval('body', (b) => getComputedStyle(b).backgroundColor)).toBe('rgb(15, 20, 26)');
    await dark.context().close();
    await carol.context.close();
  });
});
