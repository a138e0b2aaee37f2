// Caps on what users can make the broker spend: consoles per user, per target (catalogue) and in
// all (configuration), counted across every broker. A full cap is a clear error naming it, and
// nothing is started. Input a console takes is paced (a burst, then a rate), never dropped.
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { checkConsoleCaps } from '../server/access/policy.js';
import { Browser, startTestBroker, type TestBroker } from './support/broker.js';
import { connectConsole, PROMPT, type ConsoleConnection } from './support/console-client.js';
import { brokerContainers } from './support/docker.js';
import { writeConsoleCatalog } from './support/console-catalog.js';

let t: TestBroker;
let cookie: string;

beforeAll(async () => {
  const catalog = writeConsoleCatalog(inject('consoleImage'));
  // The "quiet" target may have one console open at a time.
  const text = readFileSync(catalog, 'utf8');
  const capped = text.replace('idleTimeout: 15m }, allow: { groups: [developers] }, recordInput: false', 'idleTimeout: 15m, maxConsoles: 1 }, allow: { groups: [developers] }, recordInput: false');
  expect(capped).not.toBe(text);
  writeFileSync(catalog, capped);
  t = await startTestBroker({ SALLYPORT_CATALOG: catalog, CONSOLE_GREETING: 'x', SALLYPORT_MAX_CONSOLES_PER_USER: '3', SALLYPORT_MAX_CONSOLES: '2', SALLYPORT_CONSOLE_INPUT_BYTES_PER_SECOND: '65536' });
  const b = new Browser();
  await t.login(b, 'alice');
  cookie = `sallyport=${b.cookies(t.url).get('sallyport')}`;
});
afterAll(async () => {
  await t?.close();
});

async function refused(target: string): Promise<Record<string, unknown>> {
  const c = await connectConsole(t.url, target, { cookie });
  await c.closed;
  return c.messages[0]!;
}

describe('console caps', () => {
  it('refuse a console past the target’s and the global cap, naming the cap, and start nothing', async () => {
    const open: ConsoleConnection[] = [];
    try {
      open.push(await connectConsole(t.url, 'quiet', { cookie }));
      await open[0]!.waitFor(PROMPT);
      expect(await refused('quiet')).toMatchObject({ type: 'error', code: 'LIMIT_REACHED', message: expect.stringMatching(/quiet already has 1 consoles open, its limit \(limits\.maxConsoles=1\)/) });

      open.push(await connectConsole(t.url, 'shell', { cookie }));
      await open[1]!.waitFor(PROMPT);
      expect(await refused('shell')).toMatchObject({ type: 'error', code: 'LIMIT_REACHED', message: expect.stringMatching(/2 consoles are open, the most Sallyport allows \(SALLYPORT_MAX_CONSOLES=2\)/) });
      expect(brokerContainers(t.broker.instanceId)).toHaveLength(2);

      // A place freed is a place to take.
      open.shift()!.type('exit\n');
      await expect.poll(async () => (await t.broker.db.query(`select count(*)::int as n from console_sessions where ended_at is null`)).rows[0].n, { timeout: 10_000 }).toBe(1);
      open.push(await connectConsole(t.url, 'quiet', { cookie }));
      await open.at(-1)!.waitFor(PROMPT);
    } finally {
      for (const c of open) c.ws.close();
    }
  });

  it('pace input past a burst of four seconds’ worth, and deliver every byte of it', async () => {
    // The consoles the test before closed must have ended: the global cap is 2.
    await expect.poll(async () => (await t.broker.db.query(`select count(*)::int as n from console_sessions where ended_at is null`)).rows[0].n, { timeout: 10_000 }).toBe(0);
    const c = await connectConsole(t.url, 'shell', { cookie });
    try {
      await c.waitFor(PROMPT);
      c.type('wc -c\n');
      await new Promise((r) => setTimeout(r, 300));
      // 640,000 bytes at 64 KiB/s after a 256 KiB burst: about 6 s. The terminal echoes each line
      // as the process receives it, so the echo shows the pace.
      const paste = `${'y'.repeat(99)}\n`.repeat(6400);
      const echoed = () => c.outputBytes().length;
      c.type(paste);
      c.type('\x04');
      await new Promise((r) => setTimeout(r, 2000));
      const at2s = echoed();
      await new Promise((r) => setTimeout(r, 2000));
      const perSecond = (echoed() - at2s) / 2;
      // Unpaced, all of it is echoed within a second; paced, it goes on at about the rate (the
      // front door stops reading a socket, so it may run ahead by a read or two).
      expect(perSecond).toBeGreaterThan(32 * 1024);
      expect(perSecond).toBeLessThan(128 * 1024);
      await c.waitFor(/^\s*640000\s*$/m, 15_000);
    } finally {
      c.ws.close();
    }
  });

  it('name the per-user cap first: it is what the user can do something about', () => {
    const caps = { maxPerUser: 2, maxTotal: 10 };
    const target = { name: 'shell', limits: { maxConsoles: 1 } } as Parameters<typeof checkConsoleCaps>[2];
    expect(() => checkConsoleCaps({ user: 2, target: 5, total: 50 }, caps, target)).toThrow(/you already have 2 consoles open, the most one user may \(SALLYPORT_MAX_CONSOLES_PER_USER=2\)/);
    expect(() => checkConsoleCaps({ user: 1, target: 0, total: 9 }, caps, target)).not.toThrow();
  });
});

describe('the per-user cap, below the global one', () => {
  let u: TestBroker;
  let aliceCookie: string;
  beforeAll(async () => {
    u = await startTestBroker({ SALLYPORT_CATALOG: writeConsoleCatalog(inject('consoleImage')), CONSOLE_GREETING: 'x', SALLYPORT_MAX_CONSOLES_PER_USER: '1', SALLYPORT_MAX_CONSOLES: '5' });
    const b = new Browser();
    await u.login(b, 'alice');
    aliceCookie = `sallyport=${b.cookies(u.url).get('sallyport')}`;
  });
  afterAll(async () => {
    await u?.close();
  });

  it("refuses a user's second console while the broker has room for more, naming the per-user cap", async () => {
    const first = await connectConsole(u.url, 'shell', { cookie: aliceCookie });
    try {
      await first.waitFor(PROMPT);
      const second = await connectConsole(u.url, 'shell', { cookie: aliceCookie });
      await second.closed;
      expect(second.messages[0]).toMatchObject({ type: 'error', code: 'LIMIT_REACHED', message: expect.stringMatching(/you already have 1 consoles? open, the most one user may \(SALLYPORT_MAX_CONSOLES_PER_USER=1\)/) });
      expect(brokerContainers(u.broker.instanceId)).toHaveLength(1);
    } finally {
      first.ws.close();
    }
  });
});
