// A broker restarted (SIGTERM) while another is alive hands its browser consoles over instead of
// ending them: each is frozen, its recording stored, left on its row; its page is told and
// reconnects; the other broker carries on with the same container (the same shell, its loop still
// counting) and continues the same recording — complete, in order, chained and sealed — and the
// restarted one exits at once rather than at the end of its drain. Two real brokers (a `sallyport
// serve` process beside the harness), Docker, PostgreSQL.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { verifyAuditLog } from '../server/verify/index.js';
import { Browser } from './support/broker.js';
import { connectConsole, PROMPT } from './support/console-client.js';
import { brokerContainers } from './support/docker.js';
import { startServeBeside } from './support/replica.js';
import { countedLines, storedRecording } from './support/stored-recording.js';
import { waitFor } from './support/process.js';

const DRAIN = 30;
let served: Awaited<ReturnType<typeof startServeBeside>>;

beforeAll(async () => {
  served = await startServeBeside(inject('consoleImage'), { SALLYPORT_DRAIN_SECONDS: `${DRAIN}s`, SALLYPORT_REATTACH_SECONDS: '30' });
}, 120_000);
afterAll(async () => {
  await served?.stop();
});

/** Alice's console on the `serve` process, counting `<prefix>-0…` to `lines`, with its id and key. */
async function countingOnServed(prefix: string, lines: number) {
  const { h } = served;
  const b = new Browser();
  await h.login(b, 'alice');
  const cookie = `sallyport=${b.cookies(h.url).get('sallyport')}`;
  const c = await connectConsole(served.url, 'shell', { cookie, origin: h.url });
  await c.waitFor(PROMPT);
  const started = c.messages.find((m) => m.type === 'started')!;
  const { broker_id: carrier } = (await h.broker.db.query(`select broker_id from console_sessions where id = $1`, [started.sessionId])).rows[0];
  c.type(`echo $$ > /tmp/shell-pid; i=0; while [ $i -lt ${lines} ]; do echo ${prefix}-$i; i=$((i+1)); sleep 0.05; done; echo "count""ed"\n`);
  await c.waitFor(new RegExp(`${prefix}-10\\b`));
  return { h, c, cookie, id: started.sessionId as string, key: started.reattachKey as string, carrier: carrier as string };
}

describe('a page that comes back through another broker', () => {
  it('is carried on there: its broker hands the console over on request; another window of the login still gets the choice', async () => {
    const { h, c, cookie, id, key } = await countingOnServed('m', 200);

    // Without taking over, while the first window still holds it: the choice, and nothing moves.
    const asked = await connectConsole(h.url, 'shell', { cookie, open: false });
    asked.send({ type: 'reattach', sessionId: id, key, takeover: false, cols: 80, rows: 24 });
    await asked.closed;
    expect(asked.messages[0]).toMatchObject({ type: 'error', code: 'CONFLICT' });
    await c.waitFor(/m-20\b/);

    // Its own socket dropped, the page comes back through the other broker and takes it.
    c.ws.terminate();
    const back = await connectConsole(h.url, 'shell', { cookie, open: false });
    back.send({ type: 'reattach', sessionId: id, key, takeover: true, cols: 80, rows: 24 });
    await waitFor('carried on', async () => back.messages.find((m) => m.type === 'started' || m.type === 'error'), 20_000);
    expect(back.messages[0], JSON.stringify(back.messages[0])).toEqual({ type: 'started', sessionId: id, reattached: true });
    await back.waitFor(/^counted\r?$/m, 30_000);
    back.type('exit\n');
    expect((await back.closed).reason).toBe('process exited');
    const row = await waitFor('the end stored', async () => (await h.broker.db.query(`select broker_id, end_code from console_sessions where id = $1 and ended_at is not null`, [id])).rows[0], 15_000);
    expect(row).toEqual({ broker_id: h.broker.instanceId, end_code: 'process_exited' });
    const rec = await storedRecording(h.broker.db, id);
    expect(countedLines(rec.output, 'm')).toEqual(Array.from({ length: 200 }, (_, i) => i));
    expect(rec.report.ok, rec.report.summary).toBe(true);
    expect(served.child.exitCode).toBeNull();
  }, 120_000);
});

describe('SIGTERM with another broker alive', () => {
  it('hands a browser console over: the other broker carries on with the same container and the same recording', async () => {
    const { h, c, cookie, id, key, carrier: leaver } = await countingOnServed('n', 300);
    expect(leaver).not.toBe(h.broker.instanceId);

    const exited = new Promise<number | null>((r) => served.child.once('exit', (code) => r(code)));
    const t0 = Date.now();
    served.child.kill('SIGTERM');
    expect(await c.closed).toEqual({ code: 1012, reason: 'broker restarting: reconnect' });
    expect(c.messages.some((m) => m.type === 'notice' && m.message === 'This broker is restarting: your console moves to another broker.')).toBe(true);

    // The page comes back (here: to the other broker, as a load balancer would send it).
    const back = await connectConsole(h.url, 'shell', { cookie, open: false });
    back.send({ type: 'reattach', sessionId: id, key, takeover: false, cols: 80, rows: 24 });
    await waitFor('carried on', async () => back.messages.find((m) => m.type === 'started' || m.type === 'error'), 15_000);
    expect(back.messages[0], JSON.stringify(back.messages[0])).toEqual({ type: 'started', sessionId: id, reattached: true });
    // Nothing left to drain: it stops long before its drain would have ended.
    expect(await exited).toBe(0);
    expect((Date.now() - t0) / 1000).toBeLessThan(DRAIN / 2);
    await back.waitFor(/^counted\r?$/m, 30_000);
    back.type('cat /tmp/shell-pid; echo pid-$$\n');
    const out = await back.waitFor(/pid-\d+/);
    const [, pid] = /^(\d+)\r?$/m.exec(out.slice(out.lastIndexOf('cat /tmp/shell-pid')))!;
    expect(out).toContain(`pid-${pid}`);
    back.type('exit\n');
    expect((await back.closed).reason).toBe('process exited');

    const row = await waitFor('the end stored', async () => (await h.broker.db.query(`select broker_id, end_code from console_sessions where id = $1 and ended_at is not null`, [id])).rows[0], 15_000);
    expect(row).toEqual({ broker_id: h.broker.instanceId, end_code: 'process_exited' });
    expect(brokerContainers(leaver)).toEqual([]);

    // One recording, every counted line once and in order, the handover marked; chained and sealed.
    const rec = await storedRecording(h.broker.db, id);
    expect(countedLines(rec.output, 'n')).toEqual(Array.from({ length: 300 }, (_, i) => i));
    const times = rec.events.map((e) => e.time);
    expect(times).toEqual([...times].sort((x, y) => x - y));
    expect(rec.markers).toContain(`carried on by broker ${h.broker.instanceId}: broker ${leaver} handed it over`);
    expect(rec.truncated).toBeNull();
    expect(rec.report.ok, rec.report.summary).toBe(true);
    const [handed] = (await h.broker.db.query(`select details from audit_events where action = 'console.handed_over' and subject = $1`, [id])).rows.map((r) => r.details);
    expect(handed).toMatchObject({ from: leaver, to: h.broker.instanceId, username: 'alice', target: 'shell' });
    expect(handed.gapSeconds).toBeLessThan(10);
    expect((await h.broker.db.query(`select count(*)::int as n from audit_events where action = 'console.ended' and subject = $1`, [id])).rows[0].n).toBe(1);
    expect((await verifyAuditLog(h.broker.db, h.broker.signer.jwks())).problem).toBeNull();
  }, 120_000);
});
