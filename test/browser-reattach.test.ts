// A reload does not end a console, in real headless Chromium: the page comes back to the same
// console (same session, same container, its background job still printing), shows the screen
// again, and the recording holds every line printed while the page was away. A second tab of the
// same login is offered a takeover, and the first then stops coming back for it.
import type { Browser as Chromium, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { readRecordingChunks } from '../server/db/index.js';
import { parseAsciicast } from '../server/recording/index.js';
import { startTestBroker, type TestBroker } from './support/broker.js';
import { launchChromium, signInAs } from './support/chromium.js';
import { writeConsoleCatalog } from './support/console-catalog.js';
import { waitFor } from './support/process.js';

let t: TestBroker;
let chromium: Chromium;
beforeAll(async () => {
  [t, chromium] = await Promise.all([
    startTestBroker({ SALLYPORT_CATALOG: writeConsoleCatalog(inject('consoleImage')), CONSOLE_GREETING: 'hi', SALLYPORT_REATTACH_SECONDS: '30' }),
    launchChromium(),
  ]);
});
afterAll(async () => {
  await chromium?.close();
  await t?.close();
});

async function recordedOutput(id: string): Promise<string> {
  const parts: Buffer[] = [];
  for await (const c of readRecordingChunks(t.broker.db, id)) parts.push(c);
  return parseAsciicast(Buffer.concat(parts).toString('utf8')).events.filter((e) => e.code === 'o').map((e) => e.data).join('');
}

const screen = (page: Page) => page.locator('#terminal .xterm-rows').innerText();
const lastTick = async (page: Page) => Math.max(-1, ...[...(await screen(page)).matchAll(/tick-(\d+)/g)].map((m) => Number(m[1])));

describe('a browser console across a reload', () => {
  it('comes back to the same console with its job still running, and nothing printed meanwhile is lost', async () => {
    const context = await chromium.newContext({ viewport: { width: 1000, height: 600 } });
    const page = await context.newPage();
    page.setDefaultTimeout(15_000);
    await page.goto(`${t.url}/`);
    await signInAs(page, t.users, 'alice');
    await page.waitForSelector('#profile');
    await page.goto(`${t.url}/console/shell`);
    await page.waitForFunction(() => /~ \$/.test(document.querySelector('#terminal .xterm-rows')?.textContent ?? ''));
    const id = await page.getAttribute('#console-status', 'data-session-id');
    await page.click('#terminal');
    await page.keyboard.type('(i=0; while [ $i -lt 900 ]; do echo tick-$i; i=$((i+1)); sleep 0.1; done) &\n');
    await expect.poll(() => lastTick(page)).toBeGreaterThan(5);

    const reloaded = Date.now();
    await page.reload();
    await expect.poll(() => page.textContent('#console-status'), { timeout: 15_000 }).toBe('reconnected');
    console.info(`reattached ${Date.now() - reloaded} ms after the reload (see bench/ for the figure)`);
    expect(await page.getAttribute('#console-status', 'data-session-id')).toBe(id);
    // The screen is back and the job goes on printing into it.
    const seen = await lastTick(page);
    expect(seen).toBeGreaterThan(5);
    await expect.poll(() => lastTick(page)).toBeGreaterThan(seen + 3);
    // It is the same shell: typing works and only one console of alice's was ever opened.
    await page.click('#terminal');
    await page.keyboard.type('echo "same-""shell"\n');
    // Read from the recording, not the screen: the ticks scroll the answer away within seconds.
    await waitFor('the answer recorded', async () => (/^same-shell\r?$/m.test(await recordedOutput(id!)) ? true : undefined), 20_000);
    const { rows } = await t.broker.db.query(`select s.id from console_sessions s join users u on u.id = s.user_id where u.username = 'alice'`);
    expect(rows.map((r) => r.id)).toEqual([id]);

    // A second tab of the same login (a duplicated tab has the same key): a clear choice.
    const second = await context.newPage();
    second.setDefaultTimeout(15_000);
    const held = await page.evaluate(() => sessionStorage.getItem('sallyport.console.shell') ?? '');
    await second.addInitScript((v) => sessionStorage.setItem('sallyport.console.shell', v), held);
    await second.goto(`${t.url}/console/shell`);
    await second.waitForSelector('#take-over');
    expect(await second.textContent('#console-status')).toContain('open in another window');
    // Watching it first, read-only: the job goes on printing there.
    await second.click('#watch-here');
    await expect.poll(() => second.textContent('#console-status')).toBe('watching (read-only): this console is open in another window');
    const watched = await lastTick(second).catch(() => -1);
    await expect.poll(() => lastTick(second)).toBeGreaterThan(watched + 3);
    await expect.poll(() => page.textContent('#console-watchers')).toBe('watched by alice');
    await second.click('#take-over');
    await expect.poll(() => second.textContent('#console-status')).toBe('reconnected');
    await expect.poll(() => page.textContent('#console-status')).toBe('This console moved to another window of your login.');
    // The first does not come back for it by itself.
    await new Promise((r) => setTimeout(r, 1500));
    expect(await page.textContent('#console-status')).toBe('This console moved to another window of your login.');

    await second.click('#end-session');
    await expect.poll(() => second.textContent('#console-status')).toMatch(/^ended \(ended by the user\)/);
    await waitFor('the end stored', async () => (await t.broker.db.query(`select 1 from console_sessions where id = $1 and ended_at is not null`, [id])).rows[0], 10_000);
    const ticks = [...(await recordedOutput(id!)).matchAll(/tick-(\d+)/g)].map((m) => Number(m[1]));
    expect(ticks.length).toBeGreaterThan(seen + 3);
    expect(ticks).toEqual(ticks.map((_, i) => i));
    await context.close();
  });
});
