// In a real browser (headless Chromium): a logged-out visit goes to the IdP, alice logs in on
// its form, lands on the home page rendered under the strict CSP with her name, roles and
// targets, and logs out. Any CSP violation or script error fails the test.
import type { Browser as Chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestBroker, type TestBroker } from './support/broker.js';
import { launchChromium, signInAs } from './support/chromium.js';

let t: TestBroker;
let chromium: Chromium;
beforeAll(async () => {
  [t, chromium] = await Promise.all([startTestBroker(), launchChromium()]);
});
afterAll(async () => {
  await chromium?.close();
  await t?.close();
});

describe('home page in Chromium', () => {
  it('alice logs in through the IdP, sees who she is and her targets, and logs out', async () => {
    const context = await chromium.newContext();
    const page = await context.newPage();
    page.setDefaultTimeout(8000);
    const problems: string[] = [];
    page.on('console', (m) => {
      // The dev IdP has no favicon; that 404 is the IdP's page, not ours.
      if (m.type() === 'error' && m.location().url !== `${t.idp.issuer}/favicon.ico`) problems.push(`${m.text()} @ ${m.location().url}`);
    });
    page.on('pageerror', (e) => problems.push(e.message));
    page.on('response', (r) => {
      if (r.status() >= 400) problems.push(`${r.status()} ${r.url()}`);
    });

    await page.goto(`${t.url}/`);
    expect(new URL(page.url()).origin).toBe(t.idp.issuer);
    await signInAs(page, t.users, 'alice');

    await page.waitForURL(`${t.url}/`);
    await page.waitForSelector('#profile', { timeout: 5000 }).catch((err: Error) => {
      throw new Error(`home page did not render: ${problems.join('; ') || err.message}`);
    });
    expect(await page.textContent('#username')).toBe('alice');
    expect(await page.textContent('#roles')).toBe('developer');
    expect(await page.textContent('#whoami')).toBe('Alice Developer');
    const targets = await page.$$eval('.target h3', (els) => els.map((e) => e.textContent));
    expect(targets).toEqual(['billing-console']);
    expect(await page.textContent('.target .badge')).toBe('needs approval');

    const cookies = await context.cookies(t.url);
    const session = cookies.find((c) => c.name === 'sallyport')!;
    expect(session.httpOnly).toBe(true);
    expect(session.sameSite).toBe('Lax');
    expect(await page.evaluate(() => document.cookie)).not.toContain('sallyport=');

    await page.click('#logout button');
    await page.waitForURL((u) => u.origin === t.idp.issuer);
    await page.click('button[name="logout"]');
    await page.waitForURL(`${t.url}/auth/logged-out`);
    expect(await page.textContent('h1')).toMatch(/logged out/);
    const again = await page.request.get(`${t.url}/api/me`, { headers: { accept: 'application/json' } });
    expect(again.status()).toBe(401);

    expect(problems).toEqual([]);
    await context.close();
  });

  it('bob sees his roles and that no consoles are open to him', async () => {
    const context = await chromium.newContext();
    const page = await context.newPage();
    page.setDefaultTimeout(8000);
    await page.goto(`${t.url}/`);
    await signInAs(page, t.users, 'bob');
    await page.waitForSelector('#profile');
    expect(await page.textContent('#roles')).toBe('approver');
    expect(await page.textContent('#targets .empty')).toMatch(/No console targets/);
    await context.close();
  });

  it('shows the IdP error on a wrong password and creates no session', async () => {
    const context = await chromium.newContext();
    const page = await context.newPage();
    page.setDefaultTimeout(8000);
    await page.goto(`${t.url}/`);
    await page.fill('#username', 'alice');
    await page.fill('#password', 'wrong');
    await page.click('#sign-in');
    await page.waitForSelector('#login-error');
    expect((await context.cookies(t.url)).some((c) => c.name === 'sallyport')).toBe(false);
    await context.close();
  });
});
