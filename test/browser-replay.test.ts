// The auditor's replay in real Chromium: search finds a word alice's console showed, the hit
// opens the replay at that moment, the command timeline jumps, and hostile escape sequences in
// the recording (OSC 52 clipboard write, title change, status report request, a javascript:
// hyperlink) do nothing in the player.
import type { Browser as Chromium, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { apiSession } from './support/api-session.js';
import { startTestBroker, type TestBroker } from './support/broker.js';
import { launchChromium, signInAs } from './support/chromium.js';
import { connectConsole, PROMPT } from './support/console-client.js';
import { writeConsoleCatalog } from './support/console-catalog.js';

let t: TestBroker;
let chromium: Chromium;
let sessionId: string;

beforeAll(async () => {
  [t, chromium] = await Promise.all([startTestBroker({ SALLYPORT_CATALOG: writeConsoleCatalog(inject('consoleImage')), CONSOLE_GREETING: 'x' }), launchChromium()]);
  const alice = await apiSession(t, 'alice');
  const c = await connectConsole(t.url, 'shell', { cookie: `sallyport=${alice.browser.cookies(t.url).get('sallyport')}` });
  await c.waitFor(PROMPT);
  sessionId = c.sessionId();
  c.type('echo "ledger-""reconciled"\n');
  await c.waitFor(/^ledger-reconciled\r?$/m);
  await new Promise((r) => setTimeout(r, 1200));
  // Hostile output: clipboard write, title change, cursor report request, javascript: link.
  c.type(
    `printf '\\033]52;c;cHduZWQ=\\007\\033]0;HACKED\\007\\033[6n\\033[c\\033]8;;javascript:alert(document.cookie)\\033\\\\CLICK-ME\\033]8;;\\033\\\\\\n'; sleep 1; exit\n`,
  );
  await c.closed;
});
afterAll(async () => {
  await chromium?.close();
  await t?.close();
});

async function carolPage(): Promise<{ page: Page; problems: string[] }> {
  const context = await chromium.newContext({ viewport: { width: 1200, height: 800 } });
  const problems: string[] = [];
  // Record any clipboard write the page attempts.
  await context.addInitScript(() => {
    (window as unknown as { clipboardWrites: string[] }).clipboardWrites = [];
    const clip = navigator.clipboard;
    if (clip) clip.writeText = async (s: string) => void (window as unknown as { clipboardWrites: string[] }).clipboardWrites.push(s);
  });
  const page = await context.newPage();
  // Any further page is a popup the recording opened.
  context.on('page', (p) => problems.push(`popup ${p.url()}`));
  page.setDefaultTimeout(10_000);
  page.on('dialog', (d) => {
    problems.push(`dialog ${d.message()}`);
    void d.dismiss();
  });
  page.on('pageerror', (e) => problems.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.location().url.startsWith(t.idp.issuer)) problems.push(m.text());
  });
  await page.goto(`${t.url}/search`);
  await signInAs(page, t.users, 'carol');
  await page.waitForSelector('#search-form');
  return { page, problems };
}

describe('replay in Chromium', () => {
  it('search opens the replay at the hit; the timeline jumps; recorded escape sequences stay inert', async () => {
    const { page, problems } = await carolPage();
    await page.fill('#search-q', 'ledger-reconciled');
    await page.click('#search-form button[type=submit]');
    await page.waitForSelector(`.hit[data-session-id="${sessionId}"]`);
    // Grouped per session, the match marked in each snippet.
    expect(await page.locator(`.hit-session[data-session-id="${sessionId}"]`).count()).toBe(1);
    expect((await page.locator(`.hit-session[data-session-id="${sessionId}"] mark`).first().textContent())?.toLowerCase()).toBe('ledger-reconciled');
    // Full-text also matches the echoed command (its words); open the hit that shows the output line.
    await page.locator(`.hit[data-session-id="${sessionId}"][data-kind="output"]`, { hasText: /[^"]ledger-reconciled/ }).first().locator('.hit-link').click();
    await page.waitForURL(/\/sessions\/[0-9a-f-]{36}\?t=/);
    await page.waitForSelector('#player[data-seeks="1"]');
    const shown = () => page.evaluate(() => (document.querySelector('#player .xterm-rows') as HTMLElement)?.innerText ?? '');
    await expect.poll(shown, { timeout: 20_000, message: `replay at ${page.url()}` }).toMatch(/^ledger-reconciled\s*$/m);

    // The timeline lists the commands; jumping to the last one shows the hostile output.
    const lines = await page.$$eval('#timeline .command code', (cs) => cs.map((c) => c.textContent));
    expect(lines[0]).toBe('echo "ledger-""reconciled"');
    expect(lines.at(-1)).toMatch(/^printf .*; sleep 1; exit$/);
    const title = await page.title();
    // Jumping to the first command shows the screen before its output.
    await page.click('#timeline .command:first-child .jump');
    await page.waitForFunction(() => Number(document.querySelector('#player')?.getAttribute('data-seeks')) === 2);
    expect(await page.locator('#player .xterm-rows').innerText()).not.toMatch(/^ledger-reconciled\s*$/m);
    // Seek to the end, then click the javascript: link text.
    await page.$eval('#scrubber', (s) => {
      (s as HTMLInputElement).value = (s as HTMLInputElement).max;
      s.dispatchEvent(new Event('input'));
    });
    await page.waitForFunction(() => /CLICK-ME/.test((document.querySelector('#player .xterm-rows') as HTMLElement)?.innerText ?? ''));
    const box = await page.locator('#player .xterm-rows span', { hasText: 'CLICK-ME' }).first().boundingBox();
    if (box) await page.mouse.click(box.x + 5, box.y + box.height / 2);
    await page.waitForTimeout(500);
    expect(page.url()).toMatch(new RegExp(`/sessions/${sessionId}`));
    expect(await page.title()).toBe(title);
    expect(await page.evaluate(() => (window as unknown as { clipboardWrites: string[] }).clipboardWrites)).toEqual([]);
    // At the end the last command is the current one in the list, which follows playback.
    expect(await page.locator('#timeline .command.current code').textContent()).toMatch(/^printf /);
    // A link to this moment: the replay's address with the playhead's time.
    await page.click('#copy-moment');
    expect(await page.textContent('#moment-link')).toMatch(new RegExp(`/sessions/${sessionId}\\?t=\\d+\\.\\d{2}$`));
    expect(problems).toEqual([]);
    // Seeks are timed by the player for the benchmark (bench/, which holds the budget); here the
    // figure only has to be there and sane, since this file runs beside others.
    const seekMs = Number(await page.getAttribute('#player', 'data-last-seek-ms'));
    expect(seekMs).toBeGreaterThanOrEqual(0);
    expect(seekMs).toBeLessThan(10_000);
  });
});
