// A client that stops reading and leaves must not strand its container: the attach stream is
// destroyed with the console, so dockerd is not left blocked writing to it, `docker inspect` and
// `rm -f` answer, and the container is gone; the reaper keeps going past a container it cannot
// remove; containers of ended sessions not yet removed count toward the caps and show in /metrics.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { countLiveConsolesLocked } from '../server/db/live-control.js';
import { Browser, startTestBroker, type TestBroker } from './support/broker.js';
import { connectConsole, PROMPT } from './support/console-client.js';
import { brokerContainers, expectNoContainers } from './support/docker.js';
import { writeConsoleCatalog } from './support/console-catalog.js';

const run = promisify(execFile);
const TOKEN = 'metrics-token-for-the-test-0123456789abcdef';
let t: TestBroker;
let cookie: string;

beforeAll(async () => {
  t = await startTestBroker({ SALLYPORT_CATALOG: writeConsoleCatalog(inject('consoleImage')), CONSOLE_GREETING: 'x', SALLYPORT_METRICS_TOKEN: TOKEN, SALLYPORT_BROKER_LEASE_SECONDS: '3' });
  const b = new Browser();
  await t.login(b, 'alice');
  cookie = `sallyport=${b.cookies(t.url).get('sallyport')}`;
});
afterAll(async () => {
  await t?.close();
});

describe('a client that stops reading and leaves', () => {
  it('leaves no container behind, and the engine keeps answering', async () => {
    const c = await connectConsole(t.url, 'shell', { cookie });
    await c.waitFor(PROMPT);
    const id = c.sessionId();
    // Stop reading, fill every buffer between the container's TTY and this socket, and vanish.
    const socket = (c.ws as unknown as { _socket: { pause(): void } })._socket;
    socket.pause();
    c.type('yes "stranded-$((6*7))-padding-padding-padding-padding-padding"\n');
    await new Promise((r) => setTimeout(r, 3000));
    c.ws.terminate();
    const [container] = brokerContainers(t.broker.instanceId);
    await expect.poll(async () => (await t.broker.db.query(`select ended_at from console_sessions where id = $1`, [id])).rows[0].ended_at, { timeout: 20_000 }).not.toBeNull();
    await expectNoContainers(t.broker.instanceId, 15_000);
    // The engine answers for that container at once (it is gone), not after a hang.
    if (container) {
      const t0 = Date.now();
      const inspected = await run('docker', ['inspect', container], { timeout: 10_000 }).then(
        () => 'present',
        (err: { stderr?: string; killed?: boolean }) => (err.killed ? 'hung' : /No such/i.test(err.stderr ?? '') ? 'gone' : 'error'),
      );
      expect(inspected).toBe('gone');
      expect(Date.now() - t0).toBeLessThan(5000);
    }
    const released = (await t.broker.db.query(`select released_at from console_sessions where id = $1`, [id])).rows[0].released_at;
    expect(released).not.toBeNull();
  }, 60_000);

  it('counts a container not yet removed toward the caps and shows it in /metrics until the reaper removes it', async () => {
    const scrape = async () => (await fetch(`${t.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).text();
    const c = await connectConsole(t.url, 'shell', { cookie });
    await c.waitFor(PROMPT);
    const id = c.sessionId();
    c.type('exit\n');
    await c.closed;
    await expect.poll(async () => (await t.broker.db.query(`select released_at from console_sessions where id = $1`, [id])).rows[0].released_at).not.toBeNull();
    // What an end leaves when the engine would not remove the container: the row unreleased, and
    // a container of this broker's for it still on the engine.
    // The row first: the reaper marks a session released only when it removes its container, so
    // until the container exists nothing can release it under the checks (on a busy machine a
    // reaper pass fell between the container's start and the count).
    await t.broker.db.query(`update console_sessions set released_at = null where id = $1`, [id]);
    expect(await scrape()).toMatch(/^sallyport_consoles_unreleased 1$/m);
    const alice = (await t.broker.db.query(`select user_id from console_sessions where id = $1`, [id])).rows[0].user_id;
    const counted = await t.broker.db.transaction((tx) => countLiveConsolesLocked(tx, alice, 'shell'));
    expect(counted.user, 'the leftover counts toward alice’s cap').toBe(1);
    await run('docker', ['run', '-d', '--label', `io.sallyport.broker=${t.broker.instanceId}`, '--label', `io.sallyport.session=${id}`, inject('consoleImage'), 'sleep', '300']);
    // The reaper (every heartbeat) removes it and marks it released.
    await expect.poll(async () => (await t.broker.db.query(`select released_at from console_sessions where id = $1`, [id])).rows[0].released_at, { timeout: 30_000 }).not.toBeNull();
    await expectNoContainers(t.broker.instanceId);
    expect(await scrape()).toMatch(/^sallyport_consoles_unreleased 0$/m);
    expect((await t.broker.db.transaction((tx) => countLiveConsolesLocked(tx, alice, 'shell'))).user).toBe(0);
  }, 60_000);
});
