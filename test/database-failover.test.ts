// A real database failover under live consoles: PostgreSQL made highly available the standard way
// (Patroni, two members in synchronous mode, etcd, HAProxy in front; test/support/patroni.ts),
// two brokers connected through HAProxy, 20 consoles across them each printing a counter. A
// planned switchover, then a SIGKILL of the primary's postmaster: no console ends, no counter
// value is missing from any recording, every recording's chain and seal verify, the audit chain
// verifies, no broker takes the other over.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freePort } from '../server/dev/index.js';
import { verifyAuditLog } from '../server/verify/index.js';
import { Browser, startTestBroker, type TestBroker } from './support/broker.js';
import { connectConsole, PROMPT, type ConsoleConnection } from './support/console-client.js';
import { writeConsoleCatalog } from './support/console-catalog.js';
import { startPatroniCluster, type PatroniCluster } from './support/patroni.js';
import { spawnCli, waitFor } from './support/process.js';
import { replicaEnv } from './support/replica.js';
import { countedLines, storedRecording } from './support/stored-recording.js';

const CONSOLES = 20;
const LINES = 150;
let cluster: PatroniCluster;
let t: TestBroker;
let served: ReturnType<typeof spawnCli> | undefined;
let servedUrl: string;
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);

beforeAll(async () => {
  process.on('unhandledRejection', onUnhandled);
  cluster = await startPatroniCluster();
  const catalog = writeConsoleCatalog(inject('consoleImage'));
  const env = { SALLYPORT_CATALOG: catalog, CONSOLE_GREETING: 'x', SALLYPORT_MAX_CONSOLES_PER_USER: String(CONSOLES) };
  t = await startTestBroker(env, { database: { name: 'postgres', url: cluster.url, drop: async () => {} } });
  const port = await freePort();
  servedUrl = `http://127.0.0.1:${port}`;
  served = spawnCli(['serve'], replicaEnv(t, { port, databaseUrl: cluster.url, catalog }, { SALLYPORT_MAX_CONSOLES_PER_USER: String(CONSOLES), SALLYPORT_DRAIN_SECONDS: '0' }));
  await waitFor('the served broker ready', async () => ((await fetch(`${servedUrl}/readyz`).catch(() => null))?.status === 200 ? true : undefined), 60_000);
}, 180_000);
afterAll(async () => {
  process.off('unhandledRejection', onUnhandled);
  if (served && served.exitCode === null) {
    const closed = new Promise((r) => served!.once('close', r));
    served.kill('SIGTERM');
    await closed;
  }
  await t?.close();
  await cluster?.stop();
}, 120_000);

describe('a database failover (Patroni, HAProxy)', () => {
  it('ends no console and loses no output: a switchover, then the primary killed', async () => {
    const browser = new Browser();
    await t.login(browser, 'alice');
    const cookie = `sallyport=${browser.cookies(t.url).get('sallyport')}`;
    const consoles: ConsoleConnection[] = [];
    for (let i = 0; i < CONSOLES; i++) {
      const c = await connectConsole(i % 2 ? servedUrl : t.url, 'shell', { cookie, origin: t.url });
      await c.waitFor(PROMPT, 20_000);
      consoles.push(c);
    }
    for (const c of consoles) c.type(`i=0; while [ $i -lt ${LINES} ]; do echo c-$i; i=$((i+1)); sleep 0.2; done; echo "count""ed"\n`);
    await Promise.all(consoles.map((c) => c.waitFor(/c-5\b/, 20_000)));
    const since = (await t.broker.db.query(`select max(seq) as seq from audit_events`)).rows[0].seq;

    const switched = await cluster.switchover();
    expect(switched.to).not.toBe(switched.from);
    const killed = await cluster.killLeaderPostmaster();
    await cluster.writable();
    console.info(`switchover ${switched.from} → ${switched.to}, then the postmaster of ${killed} killed`);

    // Every console goes on to its end.
    for (const c of consoles) {
      await c.waitFor(/^counted\r?$/m, 90_000);
      c.type('exit\n');
    }
    for (const c of consoles) expect((await c.closed).reason).toBe('process exited');
    const ids = consoles.map((c) => c.sessionId());
    const ends = await waitFor(
      'every end stored',
      async () => {
        const { rows } = await t.broker.db.query(`select end_code from console_sessions where id = any($1::uuid[]) and ended_at is not null`, [ids]);
        return rows.length === ids.length ? rows.map((r) => r.end_code as string) : undefined;
      },
      60_000,
    );
    expect(new Set(ends)).toEqual(new Set(['process_exited']));

    // Every counter value once and in order in every recording, chained and sealed.
    for (const id of ids) {
      const rec = await storedRecording(t.broker.db, id);
      expect(countedLines(rec.output, 'c'), id).toEqual(Array.from({ length: LINES }, (_, i) => i));
      expect(rec.truncated).toBeNull();
      expect(rec.report.ok, rec.report.summary).toBe(true);
    }
    const lost = (await t.broker.db.query(`select action from audit_events where seq > $1 and action in ('broker.lost', 'console.failed')`, [since])).rows;
    expect(lost).toEqual([]);
    // The faults were felt: recordings were held on the brokers while no primary answered.
    const held = (await t.broker.db.query(`select details from audit_events where seq > $1 and action = 'recording.buffered'`, [since])).rows.map((r) => r.details);
    console.info(`${held.length} stretches held, longest ${Math.max(...held.map((d) => d.seconds))} s, ${held.reduce((n, d) => n + d.bytes, 0)} bytes in all`);
    expect(held.length).toBeGreaterThan(0);
    expect((await verifyAuditLog(t.broker.db, t.broker.signer.jwks())).problem).toBeNull();
    expect(served!.exitCode).toBeNull();
    expect(unhandled).toEqual([]);
  }, 300_000);
});
