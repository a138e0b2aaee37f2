// A console lives no longer than the login it was opened with: logging out ends it within 5 s,
// and so does the login's absolute expiry, while typing in a console counts as using the login
// (it does not idle out under a user at work). A step-up login carries the consoles along.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Browser, startTestBroker, type TestBroker } from './support/broker.js';
import { connectConsole, PROMPT } from './support/console-client.js';
import { expectNoContainers } from './support/docker.js';
import { writeConsoleCatalog } from './support/console-catalog.js';

let t: TestBroker;
const IDLE_S = 3;
const MAX_AGE_S = 9;

beforeAll(async () => {
  t = await startTestBroker({
    SALLYPORT_CATALOG: writeConsoleCatalog(inject('consoleImage')),
    CONSOLE_GREETING: 'x',
    SALLYPORT_SESSION_IDLE_TIMEOUT: `${IDLE_S}s`,
    SALLYPORT_SESSION_MAX_AGE: `${MAX_AGE_S}s`,
  });
});
afterAll(async () => {
  await t?.close();
});

async function loggedIn(): Promise<{ browser: Browser; cookie: string; loggedInAt: number }> {
  const browser = new Browser();
  await t.login(browser, 'alice');
  return { browser, cookie: `sallyport=${browser.cookies(t.url).get('sallyport')}`, loggedInAt: Date.now() };
}
const me = (b: Browser) => b.request(`${t.url}/api/me`, { headers: { accept: 'application/json' } });

describe('a console and its login', () => {
  it('ends within 5 s of logout, saying so', async () => {
    const { browser, cookie } = await loggedIn();
    const c = await connectConsole(t.url, 'shell', { cookie });
    await c.waitFor(PROMPT);
    const id = c.sessionId();
    const csrf = JSON.parse((await me(browser)).body).csrfToken as string;
    const started = Date.now();
    const out = await browser.request(`${t.url}/auth/logout`, { form: { csrf }, headers: { origin: t.url } });
    expect(out.status).toBe(303);
    const closed = await c.closed;
    expect(Date.now() - started).toBeLessThan(5000);
    expect(closed.reason).toBe('logged out');
    expect(c.messages.find((m) => m.type === 'exit')).toMatchObject({ reason: 'logged out', code: 'login_ended' });
    await expectNoContainers(t.broker.instanceId);
    const row = (await t.broker.db.query(`select end_reason, end_code from console_sessions where id = $1`, [id])).rows[0];
    expect(row).toEqual({ end_reason: 'logged out', end_code: 'login_ended' });
  });

  it('moves along with a step-up login of the same browser, and ends with the new login', async () => {
    const { browser, cookie } = await loggedIn();
    const c = await connectConsole(t.url, 'shell', { cookie });
    await c.waitFor(PROMPT);
    await t.login(browser, 'alice', { reauth: true, allowSilent: true });
    expect(browser.cookies(t.url).get('sallyport')).not.toBe(cookie.slice('sallyport='.length));
    await new Promise((r) => setTimeout(r, 2000));
    expect(c.messages.some((m) => m.type === 'exit')).toBe(false);
    c.type('echo "still-""here"\n');
    await c.waitFor(/^still-here\r?$/m);
    const csrf = JSON.parse((await me(browser)).body).csrfToken as string;
    await browser.request(`${t.url}/auth/logout`, { form: { csrf }, headers: { origin: t.url } });
    expect((await c.closed).reason).toBe('logged out');
  });

  it('keeps the login alive while the console is in use, and ends at the login’s absolute expiry', async () => {
    const { browser, cookie, loggedInAt } = await loggedIn();
    const c = await connectConsole(t.url, 'shell', { cookie });
    await c.waitFor(PROMPT);
    // Longer than the idle timeout with no HTTP request at all: only the console is in use.
    const typing = setInterval(() => c.type('true\n'), 500);
    try {
      await new Promise((r) => setTimeout(r, (IDLE_S + 2) * 1000));
      expect(c.messages.some((m) => m.type === 'exit')).toBe(false);
      expect((await me(browser)).status).toBe(200);
      const closed = await c.closed;
      const endedAfter = (Date.now() - loggedInAt) / 1000;
      expect(closed.reason).toBe('login expired');
      expect(endedAfter).toBeGreaterThanOrEqual(MAX_AGE_S - 1);
      expect(endedAfter).toBeLessThan(MAX_AGE_S + 5);
    } finally {
      clearInterval(typing);
    }
    expect((await me(browser)).status).toBe(401);
  });
});
