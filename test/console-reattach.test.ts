// A browser console outlives its socket: a page whose connection drops (a reload, a blip) carries
// on with the same container — its background job still running, its files still there — within
// SALLYPORT_REATTACH_SECONDS, sees the screen again, and nothing printed meanwhile is missing from
// the recording. Only the same user's same login with the console's key may; a second window
// takes it over only when asked; past the grace it ends "client gone". Real broker, Docker,
// PostgreSQL.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import WebSocket from 'ws';
import { PING_MS } from '../server/http/routes/console-ws.js';
import { readRecordingChunks } from '../server/db/index.js';
import { parseAsciicast } from '../server/recording/index.js';
import { Browser, startTestBroker, type TestBroker } from './support/broker.js';
import { connectConsole, PROMPT, watchConsole, type ConsoleConnection } from './support/console-client.js';
import { expectNoContainers } from './support/docker.js';
import { writeConsoleCatalog } from './support/console-catalog.js';
import { waitFor } from './support/process.js';

const GRACE_SECONDS = 8;
const TOKEN = 'metrics-token-for-the-reattach-test-0123456789';
const detachedGauge = async () => Number(/^sallyport_consoles_detached (\d+)$/m.exec(await (await fetch(`${t.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).text())?.[1]);
let t: TestBroker;
let alice: string;
let aliceElsewhere: string;
let bob: string;

async function login(user: string): Promise<string> {
  const b = new Browser();
  await t.login(b, user);
  return `sallyport=${b.cookies(t.url).get('sallyport')}`;
}

async function recording(id: string) {
  const parts: Buffer[] = [];
  for await (const c of readRecordingChunks(t.broker.db, id)) parts.push(c);
  return parseAsciicast(Buffer.concat(parts).toString('utf8'));
}

async function auditOf(id: string, action: string) {
  return (await t.broker.db.query(`select details from audit_events where subject = $1 and action = $2 order by seq`, [id, action])).rows.map((r) => r.details as Record<string, unknown>);
}

async function opened(cookie: string): Promise<{ c: ConsoleConnection; id: string; key: string }> {
  const c = await connectConsole(t.url, 'shell', { cookie });
  await c.waitFor(PROMPT);
  const started = c.messages.find((m) => m.type === 'started')!;
  expect(started.reattachKey).toMatch(/^[A-Za-z0-9_-]{43}$/);
  return { c, id: started.sessionId as string, key: started.reattachKey as string };
}

/** A page coming back: a socket whose first message is the reattach, not an open. */
async function reattach(cookie: string, id: string, key: string, takeover = false): Promise<ConsoleConnection> {
  const c = await connectConsole(t.url, 'shell', { cookie, open: false });
  c.send({ type: 'reattach', sessionId: id, key, takeover, cols: 80, rows: 24 });
  return c;
}

const answer = (c: ConsoleConnection) => waitFor('an answer', async () => c.messages.find((m) => m.type === 'started' || m.type === 'error'), 10_000);

beforeAll(async () => {
  t = await startTestBroker({ SALLYPORT_CATALOG: writeConsoleCatalog(inject('consoleImage')), SALLYPORT_REATTACH_SECONDS: String(GRACE_SECONDS), CONSOLE_GREETING: 'x', SALLYPORT_METRICS_TOKEN: TOKEN });
  alice = await login('alice');
  aliceElsewhere = await login('alice');
  bob = await login('bob');
});
afterAll(async () => {
  await t?.close();
});

describe('a browser console whose socket drops', () => {
  it('carries on with the same container after a reattach: the job still runs, the screen is back, nothing printed meanwhile is lost', async () => {
    const { c, id, key } = await opened(alice);
    c.type('echo $$ > /tmp/shell-pid; (i=0; while [ $i -lt 400 ]; do echo tick-$i; i=$((i+1)); sleep 0.05; done) &\n');
    await c.waitFor(/tick-5\b/);
    // A blip: the connection is gone without a close handshake.
    c.ws.terminate();
    await c.closed;
    await new Promise((r) => setTimeout(r, 1500));
    const row = (await t.broker.db.query(`select ended_at from console_sessions where id = $1`, [id])).rows[0];
    expect(row.ended_at).toBeNull();
    // Operators see it waiting.
    expect(await detachedGauge()).toBe(1);

    const back = await reattach(alice, id, key);
    expect(await answer(back)).toMatchObject({ type: 'started', sessionId: id, reattached: true });
    expect(await detachedGauge()).toBe(0);
    // The screen: the ticks printed while no page was there.
    await back.waitFor(/tick-(3\d|[4-9]\d|\d{3})\b/);
    const shown = Number(/tick-(\d+)(?![\s\S]*tick-)/.exec(back.output())![1]);
    // Output flows again, from where the screen ended.
    await back.waitFor(new RegExp(`tick-${shown + 3}\\b`));
    back.type('cat /tmp/shell-pid; echo pid-$$\n');
    const out = await back.waitFor(/pid-\d+/);
    const [, before] = /^(\d+)\r?$/m.exec(out.slice(out.lastIndexOf('cat /tmp/shell-pid')))!;
    expect(out).toContain(`pid-${before}`);

    back.send({ type: 'end' });
    await back.closed;
    await waitFor('the end stored', async () => ((await t.broker.db.query(`select end_code from console_sessions where id = $1 and ended_at is not null`, [id])).rows[0]?.end_code as string | undefined), 10_000);

    // Every tick up to the end is in the recording once, in order: none lost in the gap.
    const rec = await recording(id);
    const ticks = [...rec.events.filter((e) => e.code === 'o').map((e) => e.data).join('').matchAll(/tick-(\d+)/g)].map((m) => Number(m[1]));
    expect(ticks.length).toBeGreaterThan(shown + 3);
    expect(ticks).toEqual(ticks.map((_, i) => i));
    const markers = rec.events.filter((e) => e.code === 'm').map((e) => e.data);
    expect(markers).toContainEqual(`client disconnected: the console waits up to ${GRACE_SECONDS} s for its page to reattach`);
    expect(markers.some((m) => /^reattached after \d+(\.\d)? s$/.test(m))).toBe(true);
    const [event] = await auditOf(id, 'console.reattached');
    expect(event).toMatchObject({ username: 'alice', target: 'shell', takeover: false, clientAddress: '127.0.0.1' });
    expect(event!.detachedSeconds).toBeGreaterThanOrEqual(1.5);
  });

  it('refuses another user, another login of the same user and a wrong key, audited, and the console goes on', async () => {
    const { c, id, key } = await opened(alice);
    c.ws.terminate();
    await c.closed;
    const wrongKey = key.slice(0, -1) + (key.endsWith('A') ? 'B' : 'A');
    for (const [cookie, k, why] of [[bob, key, 'another_user'], [aliceElsewhere, key, 'another_login'], [alice, wrongKey, 'wrong_key']] as const) {
      const other = await reattach(cookie, id, k);
      expect(await answer(other)).toMatchObject({ type: 'error', code: 'ACCESS_DENIED' });
      await other.closed;
      expect(other.output()).toBe('');
      expect((await auditOf(id, 'console.reattach_refused')).at(-1)).toMatchObject({ why, username: 'alice', target: 'shell' });
    }
    // A key that is not even the right shape is refused by the wire protocol, naming the field.
    const malformed = await reattach(alice, id, 'short');
    expect(await malformed.closed).toMatchObject({ code: 1008, reason: 'key must be the reattach key the console started with' });

    const back = await reattach(alice, id, key);
    expect(await answer(back)).toMatchObject({ type: 'started', sessionId: id, reattached: true });
    back.type('echo still-$((40+2))\n');
    await back.waitFor(/still-42/);
    back.send({ type: 'end' });
    await back.closed;
  });

  it('a second window gets a clear choice: refused unless it takes over, and then the first is told and the console goes on', async () => {
    const { c, id, key } = await opened(alice);
    const second = await reattach(alice, id, key);
    expect(await answer(second)).toMatchObject({ type: 'error', code: 'CONFLICT' });
    await second.closed;
    // The other choice: watching it. Her own console she may watch; bob (no admin) may not.
    const own = await watchConsole(t.url, id, { cookie: alice });
    await waitFor('watching', async () => own.messages.find((m) => m.type === 'watching' || m.type === 'error'), 5000);
    expect(own.messages[0]).toMatchObject({ type: 'watching', sessionId: id });
    own.ws.close();
    const other = await watchConsole(t.url, id, { cookie: bob });
    await other.closed;
    expect(other.messages[0]).toMatchObject({ type: 'error', code: 'ACCESS_DENIED' });
    c.type('echo first-window\n');
    await c.waitFor(/^first-window\r?$/m);

    const third = await reattach(alice, id, key, true);
    expect(await answer(third)).toMatchObject({ type: 'started', sessionId: id, reattached: true });
    expect(await c.closed).toMatchObject({ code: 1000, reason: 'moved to another window' });
    expect(c.messages.at(-1)).toEqual({ type: 'moved', message: 'This console moved to another window of your login.' });
    // The screen came along, and the console was not ended by the first window closing.
    await third.waitFor(/first-window/);
    third.type('echo third-window\n');
    await third.waitFor(/^third-window\r?$/m);
    expect((await auditOf(id, 'console.reattached')).at(-1)).toMatchObject({ takeover: true, detachedSeconds: 0 });
    third.send({ type: 'end' });
    await third.closed;
  });

  it('ends "client gone" once the grace has passed, removes the container, and refuses a late reattach', async () => {
    const { c, id, key } = await opened(alice);
    c.ws.close();
    await c.closed;
    const row = await waitFor(
      'the console ended',
      async () => (await t.broker.db.query(`select end_code, end_reason, ended_at - started_at as ran from console_sessions where id = $1 and ended_at is not null`, [id])).rows[0],
      (GRACE_SECONDS + 10) * 1000,
    );
    expect(row).toMatchObject({ end_code: 'client_gone', end_reason: `client gone: its page did not reattach within ${GRACE_SECONDS} s` });
    await expectNoContainers(t.broker.instanceId);
    const late = await reattach(alice, id, key);
    expect(await answer(late)).toMatchObject({ type: 'error', code: 'NOT_FOUND' });
  });

  it('notices a page gone without a close (no answer to its pings) and waits for it as for any drop', async () => {
    const { c, id, key } = await opened(alice);
    c.ws.terminate();
    await c.closed;
    // A client that stops answering pings, as a page behind a network that vanished: the broker
    // closes it within two pings, and the console waits for its page.
    const silent = new WebSocket(`${t.url.replace(/^http/, 'ws')}/api/consoles/shell/connect`, { headers: { cookie: alice }, origin: t.url, autoPong: false });
    await new Promise((r) => silent.once('open', r));
    silent.send(JSON.stringify({ type: 'reattach', sessionId: id, key, takeover: false, cols: 80, rows: 24 }));
    const t0 = Date.now();
    const closed = await new Promise<number>((r) => silent.once('close', (code) => r(code)));
    expect(closed).toBe(1006);
    expect(Date.now() - t0).toBeLessThan(2 * PING_MS + 5000);
    expect(await detachedGauge()).toBe(1);
    // This page's own reconnect takes it back even if the broker had not seen the old socket go.
    const back = await reattach(alice, id, key, true);
    expect(await answer(back)).toMatchObject({ type: 'started', sessionId: id, reattached: true });
    back.send({ type: 'end' });
    await back.closed;
  }, 60_000);

  it('ends at once when the user ends it, whatever the grace', async () => {
    const { c, id } = await opened(alice);
    c.send({ type: 'end' });
    await c.closed;
    const row = await waitFor('the end stored', async () => (await t.broker.db.query(`select end_code from console_sessions where id = $1 and ended_at is not null`, [id])).rows[0], 5000);
    expect(row).toEqual({ end_code: 'user_ended' });
  });
});
