// A broker restarted for an upgrade (SIGTERM) drains instead of cutting consoles: /readyz turns 503
// at once so the load balancer sends newcomers elsewhere, no new console opens there, every live
// console's user is told and keeps working, one the user ends ends as usual, and what is still open
// when SALLYPORT_DRAIN_SECONDS pass ends "broker shutting down" — then the process exits 0.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Browser } from './support/broker.js';
import { connectConsole, PROMPT } from './support/console-client.js';
import { startServeBeside } from './support/replica.js';

let served: Awaited<ReturnType<typeof startServeBeside>>;
const DRAIN = 6;

beforeAll(async () => {
  served = await startServeBeside(inject('consoleImage'), { SALLYPORT_DRAIN_SECONDS: `${DRAIN}s` });
}, 120_000);
afterAll(async () => {
  await served?.stop();
});

describe('SIGTERM', () => {
  it('drains: not ready at once, no new console, live ones go on (told), the rest end at the deadline', async () => {
    const b = new Browser();
    await served.h.login(b, 'alice');
    const cookie = `sallyport=${b.cookies(served.h.url).get('sallyport')}`;
    const origin = served.h.url;
    const [stays, leaves] = [await connectConsole(served.url, 'shell', { cookie, origin }), await connectConsole(served.url, 'shell', { cookie, origin })];
    await stays.waitFor(PROMPT);
    await leaves.waitFor(PROMPT);
    const exited = new Promise<number | null>((r) => served.child.once('exit', (code) => r(code)));
    const t0 = Date.now();
    served.child.kill('SIGTERM');

    await expect.poll(async () => (await fetch(`${served.url}/readyz`)).status, { timeout: 2000, interval: 100 }).toBe(503);
    const refused = await connectConsole(served.url, 'shell', { cookie, origin });
    await refused.closed;
    expect(refused.messages[0]).toMatchObject({ type: 'error', message: expect.stringMatching(/this broker is restarting and opens no new consoles/) });
    // Both users are told, and their consoles still work.
    await expect.poll(() => stays.messages.some((m) => m.type === 'notice' && /restarting: your console goes on for up to 6 s/.test(String(m.message)))).toBe(true);
    stays.type('echo "still-""working"\n');
    await stays.waitFor(/^still-working\r?$/m);
    // One user finishes: an ordinary end.
    leaves.type('exit 3\n');
    expect((await leaves.closed).reason).toBe('process exited');
    // The other is ended at the deadline, saying why.
    await stays.closed;
    expect(stays.messages.find((m) => m.type === 'exit')).toMatchObject({ reason: 'broker shutting down', code: 'broker_shutdown' });
    expect((Date.now() - t0) / 1000).toBeGreaterThanOrEqual(DRAIN - 1);
    expect(await exited).toBe(0);
  }, 60_000);
});
