// A database outage on real parts: PostgreSQL (a cluster of this test's own) stopped while a
// console is live, then started again. An outage shorter than SALLYPORT_RECORDING_BUFFER_SECONDS
// ends nothing: the console goes on, its recording is held on the broker and stored in order
// when the database is back, complete and verifiable. A longer one fails closed: the broker
// stays up and says what is unavailable; the live console ends with a message; its end and its
// recording's seal are written when the database is back (nothing it had stored is lost, the
// audit chain is contiguous and verifies); then logins and consoles work again without a
// restart; and no promise was left unhandled anywhere along the way.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { readStoredChunks } from '../server/db/index.js';
import { verifyAuditLog } from '../server/verify/index.js';
import { Browser, startTestBroker, type TestBroker } from './support/broker.js';
import { connectConsole, PROMPT } from './support/console-client.js';
import { expectNoContainers } from './support/docker.js';
import { writeConsoleCatalog } from './support/console-catalog.js';
import { startPgCluster, type PgCluster } from './support/pg-cluster.js';
import { spawnCli, waitFor } from './support/process.js';
import { replicaEnv } from './support/replica.js';
import { countedLines, storedRecording } from './support/stored-recording.js';
import { freePort } from '../server/dev/index.js';

const BUFFER_SECONDS = 8;
let pg: PgCluster;
let t: TestBroker;
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);

beforeAll(async () => {
  process.on('unhandledRejection', onUnhandled);
  pg = await startPgCluster();
  t = await startTestBroker(
    // A short lease: the outages below outlast it, as a real failover outlasts the default 30 s.
    { SALLYPORT_CATALOG: writeConsoleCatalog(inject('consoleImage')), CONSOLE_GREETING: 'x', SALLYPORT_RECORDING_BUFFER_SECONDS: String(BUFFER_SECONDS), SALLYPORT_BROKER_LEASE_SECONDS: '3' },
    { database: { name: 'postgres', url: pg.url, drop: async () => {} } },
  );
});
afterAll(async () => {
  process.off('unhandledRejection', onUnhandled);
  await t?.close();
  pg?.destroy();
});

describe('a database outage', () => {
  it('shorter than the recording buffer ends nothing: the console goes on and its recording is complete, in order, verifiable', async () => {
    const browser = new Browser();
    await t.login(browser, 'alice');
    const c = await connectConsole(t.url, 'shell', { cookie: `sallyport=${browser.cookies(t.url).get('sallyport')}` });
    await c.waitFor(PROMPT);
    const id = c.sessionId();
    c.type('i=0; while [ $i -lt 200 ]; do echo n-$i; i=$((i+1)); sleep 0.05; done; echo "count""ed"\n');
    await c.waitFor(/n-10\b/);
    pg.stop();
    let outage: number;
    try {
      const from = Date.now();
      await waitFor('the user told', async () => (c.messages.some((m) => m.type === 'notice' && /^The database is unavailable/.test(String(m.message))) ? true : undefined), 5000);
      await new Promise((r) => setTimeout(r, 3000));
      outage = Date.now() - from;
      expect(c.ws.readyState).toBe(c.ws.OPEN);
    } finally {
      pg.start();
    }
    await waitFor('the recording caught up', async () => (c.messages.some((m) => m.type === 'notice' && /^The database is back/.test(String(m.message))) ? true : undefined), 20_000);
    await c.waitFor(/^counted\r?$/m, 30_000);
    c.type('exit\n');
    expect(await c.closed).toMatchObject({ code: 1000, reason: 'process exited' });
    const row = await waitFor('the end stored', async () => (await t.broker.db.query(`select end_code from console_sessions where id = $1 and ended_at is not null`, [id])).rows[0], 20_000);
    expect(row).toEqual({ end_code: 'process_exited' });

    // Every line the loop printed is in the recording once and in order, the outage marked;
    // sealed and chained as if nothing happened.
    const rec = await storedRecording(t.broker.db, id);
    expect(countedLines(rec.output, 'n')).toEqual(Array.from({ length: 200 }, (_, i) => i));
    expect(rec.output).toBe(c.output());
    expect(rec.markers.some((m) => /^recording held on the broker for [\d.]+ s while the database was unavailable \(\d+ bytes\)$/.test(m))).toBe(true);
    expect(rec.truncated).toBeNull();
    expect(rec.report.ok, rec.report.summary).toBe(true);
    const [buffered] = (await t.broker.db.query(`select details from audit_events where action = 'recording.buffered' and subject = $1`, [id])).rows.map((r) => r.details);
    expect(buffered).toMatchObject({ target: 'shell', broker: t.broker.instanceId });
    expect(buffered.seconds).toBeGreaterThan(2);
    expect(buffered.seconds).toBeLessThan(outage / 1000 + 10);
    expect(buffered.bytes).toBeGreaterThan(0);
    expect((await verifyAuditLog(t.broker.db, t.broker.signer.jwks())).problem).toBeNull();
  }, 120_000);

  it('longer than the brokers\' lease ends nothing either: no broker takes the other over when it is back', async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const child = spawnCli(['serve'], replicaEnv(t, { port, databaseUrl: pg.url, catalog: writeConsoleCatalog(inject('consoleImage')) }, { SALLYPORT_BROKER_LEASE_SECONDS: '3', SALLYPORT_DRAIN_SECONDS: '0', SALLYPORT_RECORDING_BUFFER_SECONDS: String(BUFFER_SECONDS) }));
    try {
      await waitFor('the served broker ready', async () => ((await fetch(`${url}/readyz`).catch(() => null))?.status === 200 ? true : undefined), 40_000);
      const browser = new Browser();
      await t.login(browser, 'alice');
      const cookie = `sallyport=${browser.cookies(t.url).get('sallyport')}`;
      const consoles = await Promise.all([t.url, url].map(async (at) => {
        const c = await connectConsole(at, 'shell', { cookie, origin: t.url });
        await c.waitFor(PROMPT);
        c.type('i=0; while [ $i -lt 150 ]; do echo n-$i; i=$((i+1)); sleep 0.1; done; echo "count""ed"\n');
        await c.waitFor(/n-5\b/);
        return c;
      }));
      const since = (await t.broker.db.query(`select max(seq) as seq from audit_events`)).rows[0].seq;
      pg.stop();
      try {
        // Past the lease (3 s) by more than a heartbeat, within the buffer (8 s).
        await new Promise((r) => setTimeout(r, 6000));
      } finally {
        pg.start();
      }
      for (const c of consoles) {
        await c.waitFor(/^counted\r?$/m, 40_000);
        c.type('exit\n');
        expect(await c.closed).toMatchObject({ reason: 'process exited' });
        expect([...c.output().matchAll(/^n-(\d+)\r?$/gm)].map((m) => Number(m[1]))).toEqual(Array.from({ length: 150 }, (_, i) => i));
      }
      const lost = (await t.broker.db.query(`select action, subject from audit_events where seq > $1 and action in ('broker.lost', 'console.ended') order by seq`, [since])).rows;
      expect(lost.filter((e) => e.action === 'broker.lost')).toEqual([]);
      expect(lost.filter((e) => e.action === 'console.ended')).toHaveLength(2);
      expect(child.exitCode).toBeNull();
    } finally {
      const closed = new Promise((r) => child.once('close', r));
      child.kill('SIGTERM');
      await closed;
    }
  }, 120_000);

  it('past the recording buffer ends live consoles fail-closed, answers 503 while it lasts, writes what it owes when the database is back, and recovers without a restart', async () => {
    const browser = new Browser();
    await t.login(browser, 'alice');
    const cookie = `sallyport=${browser.cookies(t.url).get('sallyport')}`;
    const c = await connectConsole(t.url, 'shell', { cookie });
    await c.waitFor(PROMPT);
    const id = c.sessionId();
    c.type('echo "before-""outage"\n');
    await c.waitFor(/^before-outage\r?$/m);
    await new Promise((r) => setTimeout(r, 1300)); // flushed to storage

    pg.stop();
    try {
      const stopped = Date.now();
      c.type('echo "during-""outage"\n');
      const closed = await c.closed;
      expect(closed.reason).toBe('recording failed');
      // Held as long as the buffer allows, and not much longer.
      expect(Date.now() - stopped).toBeGreaterThan(BUFFER_SECONDS * 1000);
      expect(c.messages.some((m) => m.type === 'notice' && /^The database is unavailable/.test(String(m.message)))).toBe(true);
      expect(c.messages.some((m) => m.type === 'notice' && /Recording failed/.test(String(m.message)))).toBe(true);
      await expectNoContainers(t.broker.instanceId);

      // Up, and saying what is unavailable.
      expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
      const ready = await fetch(`${t.url}/readyz`);
      expect(ready.status).toBe(503);
      expect(await ready.json()).toMatchObject({ reason: 'database unreachable' });
      const login = await fetch(`${t.url}/auth/login`, { redirect: 'manual', headers: { accept: 'application/json' } });
      expect(login.status).toBe(503);
      expect((await login.json()).error.code).toBe('DB_UNAVAILABLE');
      const api = await browser.request(`${t.url}/api/me`, { headers: { accept: 'application/json' } });
      expect(api.status).toBe(503);
      const refused = await connectConsole(t.url, 'shell', { cookie }).catch((err: Error) => err);
      expect(String(refused)).toMatch(/503/);
    } finally {
      pg.start();
    }

    // Back: the end and the seal it could not write are written, from what was stored.
    const row = await waitFor(
      'the session end written',
      async () => (await t.broker.db.query(`select end_reason, end_code from console_sessions where id = $1 and ended_at is not null`, [id])).rows[0],
      30_000,
    );
    expect(row).toEqual({ end_reason: 'recording failed', end_code: 'recording_failed' });
    const rec = (await t.broker.db.query(`select sha256, truncated from recordings where session_id = $1`, [id])).rows[0];
    expect(rec).toEqual({ sha256: expect.stringMatching(/^[0-9a-f]{64}$/), truncated: 'recording failed' });
    const chunks: Buffer[] = [];
    for await (const c of readStoredChunks(t.broker.db, id)) chunks.push(c.data);
    expect(Buffer.concat(chunks).toString()).toContain('before-outage');
    const ended = (await t.broker.audit.list({ action: 'console.ended', limit: 100 })).filter((e) => e.subject === id);
    expect(ended).toHaveLength(1);
    expect(ended[0]!.details.recordingSha256).toBe(rec.sha256);

    // Everything works again, without a restart.
    await waitFor('ready again', async () => ((await fetch(`${t.url}/readyz`)).status === 200 ? true : undefined), 20_000);
    const again = new Browser();
    await t.login(again, 'alice');
    const c2 = await connectConsole(t.url, 'shell', { cookie: `sallyport=${again.cookies(t.url).get('sallyport')}` });
    await c2.waitFor(PROMPT);
    c2.type('echo "after-""outage"; exit\n');
    await c2.closed;
    expect(c2.output()).toMatch(/^after-outage\r?$/m);

    const report = await verifyAuditLog(t.broker.db, t.broker.signer.jwks());
    expect(report.problem).toBeNull();
    expect(unhandled).toEqual([]);
  }, 120_000);

  it('costs a served broker one log line a second at most while it lasts, not one per loop per try', async () => {
    // `sallyport serve` as deployed: its own process and output, its heartbeat, checkpoints,
    // search index and keyframe jobs each retrying against the stopped database every second.
    const port = await freePort();
    const child = spawnCli(['serve'], replicaEnv(t, { port, databaseUrl: pg.url, catalog: writeConsoleCatalog(inject('consoleImage')) }, { SALLYPORT_BROKER_LEASE_SECONDS: '3', SALLYPORT_DRAIN_SECONDS: '0' }));
    const lines: { at: number; text: string }[] = [];
    const take = (d: Buffer) => {
      for (const text of String(d).split('\n')) if (text.trim()) lines.push({ at: Date.now(), text });
    };
    child.stdout!.on('data', take);
    child.stderr!.on('data', take);
    try {
      const url = `http://127.0.0.1:${port}`;
      await waitFor('the served broker ready', async () => ((await fetch(`${url}/readyz`).catch(() => null))?.status === 200 ? true : undefined), 40_000);
      pg.stop();
      const from = Date.now();
      let during: typeof lines;
      try {
        await new Promise((r) => setTimeout(r, 8000));
        during = lines.filter((l) => l.at >= from);
        expect((await fetch(`${url}/readyz`)).status).toBe(503);
      } finally {
        pg.start();
      }
      // Failing it is: the loops said so, at most once a second (and a line may say how many it held back).
      expect(during.length).toBeGreaterThan(0);
      expect(during.length, during.map((l) => l.text).join('\n')).toBeLessThanOrEqual(9);
      expect(during.some((l) => /will retry|not updated|not read/.test(l.text))).toBe(true);
      await waitFor('the served broker ready again', async () => ((await fetch(`${url}/readyz`)).status === 200 ? true : undefined), 20_000);
      expect(child.exitCode).toBeNull();
    } finally {
      const closed = new Promise((r) => child.once('close', r));
      child.kill('SIGTERM');
      await closed;
    }
  }, 90_000);
});
