// Several broker processes on one PostgreSQL and one Docker engine, as replicas behind a load
// balancer: starting one never touches another's consoles; an admin on any broker lists,
// watches and terminates a console held by another; revocation reaches it; a broker killed
// with SIGKILL is taken over by a survivor (sessions ended honestly, recordings sealed from what
// was stored, containers removed, the audit chain intact); brokers starting at the same
// instant migrate once and sign one checkpoint stream. Real processes (`sallyport serve`).
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Principal } from '../server/identity/index.js';
import { freePort } from '../server/dev/index.js';
import { readMigrations, readStoredChunks, type Queryable } from '../server/db/index.js';
import { parseAsciicast } from '../server/recording/index.js';
import { MIGRATIONS_DIR } from '../server/paths.js';
import { Browser, startTestBroker, type TestBroker } from './support/broker.js';
import { connectConsole, PROMPT, watchConsole } from './support/console-client.js';
import { brokerContainers, expectNoContainers } from './support/docker.js';
import { writeConsoleCatalog } from './support/console-catalog.js';
import { freshDatabase, type TestDatabase } from './support/postgres.js';
import { runCli, spawnCli, waitFor } from './support/process.js';
import { replicaEnv } from './support/replica.js';

/** The recording's chunks as recorded (they are stored compressed). */
async function recordedChunks(db: Queryable, id: string): Promise<string[]> {
  const parts: string[] = [];
  for await (const c of readStoredChunks(db, id)) parts.push(c.data.toString('utf8'));
  return parts;
}

async function recordedText(db: Queryable, id: string): Promise<string> {
  return (await recordedChunks(db, id)).join('');
}

interface BrokerProcess {
  child: ChildProcess;
  url: string;
  id: string;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

let tdb: TestDatabase;
let h: TestBroker;
let catalog: string;
const running: BrokerProcess[] = [];

function brokerEnv(port: number, prefix: string, databaseUrl: string, extra: Record<string, string> = {}): Record<string, string> {
  // No drain: these tests are about what a stop does to consoles still running (drain.test.ts has the drain).
  return replicaEnv(h, { port, databaseUrl, catalog }, { SALLYPORT_BROKER_PREFIX: prefix, SALLYPORT_BROKER_LEASE_SECONDS: '3', SALLYPORT_DRAIN_SECONDS: '0', ...extra });
}

async function startProcess(databaseUrl = tdb.url, extra: Record<string, string> = {}): Promise<BrokerProcess> {
  const port = await freePort();
  const prefix = `p${randomBytes(3).toString('hex')}`;
  const child = spawnCli(['serve'], brokerEnv(port, prefix, databaseUrl, extra));
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const url = `http://127.0.0.1:${port}`;
  await waitFor(`broker ${prefix} ready (${stderr.slice(-300)})`, async () => ((await fetch(`${url}/readyz`).catch(() => null))?.status === 200 ? true : undefined), 40_000);
  const db = databaseUrl === tdb.url ? h.broker.db : null;
  const id = db
    ? ((await db.query(`select id from brokers where id like $1 and stopped_at is null`, [`${prefix}-%`])).rows[0]?.id as string)
    : prefix;
  const p: BrokerProcess = {
    child,
    url,
    id,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const closed = new Promise((r) => child.once('close', r));
      child.kill(signal);
      await closed;
    },
  };
  running.push(p);
  return p;
}

async function cookieOf(user: string): Promise<string> {
  const b = new Browser();
  await h.login(b, user);
  return `sallyport=${b.cookies(h.url).get('sallyport')}`;
}

/** JSON API on any replica, as the web app served from the public origin calls it. */
async function api(url: string, cookie: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = { cookie, accept: 'application/json', origin: h.url };
  if (body !== undefined) {
    headers['content-type'] = 'application/json';
    headers['x-csrf-token'] = (await api(url, cookie, '/api/me')).body.csrfToken;
  }
  const r = await fetch(`${url}${path}`, { method: body === undefined ? 'GET' : 'POST', headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null };
}

async function principal(username: string, roles: Principal['roles']): Promise<Principal> {
  const u = (await h.broker.db.query(`select * from users where username = $1`, [username])).rows[0];
  return { userId: u.id, issuer: u.issuer, subject: u.subject, username, displayName: null, email: null, groups: u.groups, roles, authTime: new Date() };
}

beforeAll(async () => {
  catalog = writeConsoleCatalog(inject('consoleImage'));
  tdb = await freshDatabase();
  h = await startTestBroker({ SALLYPORT_CATALOG: catalog, CONSOLE_GREETING: 'x' }, { database: tdb });
});
afterAll(async () => {
  await Promise.all(running.map((p) => p.stop('SIGKILL')));
  await h?.close();
  await tdb?.drop();
});

describe('brokers side by side', () => {
  let a: BrokerProcess;
  let b: BrokerProcess;
  let alice: string, bob: string, dave: string;
  /** Alice's console on broker p, printing `<word>-<n>` every `every` seconds, seen up to n = `seen`. */
  async function printing(p: BrokerProcess, word: string, every: number, seen: number) {
    const c = await connectConsole(p.url, 'shell', { cookie: alice, origin: h.url });
    await c.waitFor(PROMPT);
    c.type(`i=0; while true; do echo "${word}-$i"; i=$((i+1)); sleep ${every}; done\n`);
    await c.waitFor(new RegExp(`${word}-${seen}\\r?\\n`));
    return { c, id: c.sessionId() };
  }
  beforeAll(async () => {
    [alice, bob, dave] = await Promise.all([cookieOf('alice'), cookieOf('bob'), cookieOf('dave')]);
    a = await startProcess();
  });

  it('a broker starting while another has a live console leaves it alone; Live, Watch and Terminate work from the other broker', async () => {
    const c = await connectConsole(a.url, 'shell', { cookie: alice, origin: h.url });
    await c.waitFor(PROMPT);
    const id = c.sessionId();
    c.type('echo "before-""b"\n');
    await c.waitFor(/^before-b\r?$/m);

    b = await startProcess();
    expect(b.id).not.toBe(a.id);
    c.type('echo "still-""alive"\n');
    await c.waitFor(/^still-alive\r?$/m);
    expect(brokerContainers(a.id)).toHaveLength(1);
    expect(c.messages.some((m) => m.type === 'exit')).toBe(false);

    // The session says where it came from.
    const row = (await h.broker.db.query(`select broker_id, via, node, client_address from console_sessions where id = $1`, [id])).rows[0];
    expect(row).toEqual({ broker_id: a.id, via: 'web', node: 'local', client_address: '127.0.0.1' });

    // Live on B (and on the in-process harness broker) lists A's session.
    for (const url of [b.url, h.url]) {
      const live = await api(url, dave, '/api/live');
      expect(live.status).toBe(200);
      expect(live.body.sessions).toEqual([expect.objectContaining({ id, username: 'alice', target: 'shell', broker: a.id, watchers: [] })]);
    }
    expect((await api(b.url, alice, '/api/live')).status).toBe(403);

    // Watch on B: the screen so far, then what alice types (within about a second on an idle
    // machine; the figure is logged, the budget is bench/'s, since this file runs beside others).
    const w = await watchConsole(b.url, id, { cookie: dave, origin: h.url });
    await w.waitFor(/still-alive/);
    await expect.poll(() => c.messages.find((m) => m.type === 'watchers'), { timeout: 3000 }).toEqual({ type: 'watchers', names: ['dave'] });
    expect((await api(a.url, dave, '/api/live')).body.sessions[0].watchers).toEqual(['dave']);
    const typed = Date.now();
    c.type('echo "while-""watched"\n');
    await w.waitFor(/^while-watched\r?$/m, 10_000);
    const watchLatency = Date.now() - typed;
    console.log(`watch across brokers: output reached the watcher ${watchLatency} ms after it was typed`);

    // Terminate on B ends A's console at A's next control pass (every second): well before
    // anything slower (a lease, 30 s) could have ended it.
    const started = Date.now();
    const r = await api(b.url, dave, `/api/sessions/${id}/terminate`, { reason: 'from the other broker' });
    expect(r.status).toBe(200);
    const closed = await c.closed;
    const terminateMs = Date.now() - started;
    console.log(`terminate across brokers: console closed ${terminateMs} ms after the request`);
    expect(terminateMs).toBeLessThan(10_000);
    expect(closed.reason).toBe('terminated by dave: from the other broker');
    await w.closed;
    expect(w.messages.at(-1)).toMatchObject({ type: 'exit', reason: 'terminated by dave: from the other broker' });
    await expectNoContainers(a.id);
    expect((await api(b.url, dave, `/api/sessions/${id}/terminate`, {})).status).toBe(404);
    const ended = (await h.broker.audit.list({ action: 'console.ended', limit: 1000 })).find((e) => e.subject === id)!;
    expect(ended.details.reason).toBe('terminated by dave: from the other broker');
  });

  it('revoking a grant on one broker ends the console on another within 5 s', async () => {
    const [pa, pb] = await Promise.all([principal('alice', ['developer']), principal('bob', ['approver'])]);
    const req = await h.broker.access.request(pa, 'gated', { reason: 'cross-broker revoke', durationSeconds: 600 });
    await h.broker.access.decide(pb, req.id, 'approve', 'ok');
    const c = await connectConsole(a.url, 'gated', { cookie: alice, origin: h.url });
    await c.waitFor(PROMPT);
    const started = Date.now();
    const r = await api(b.url, bob, `/api/access-requests/${req.id}/revoke`, { reason: 'done' });
    expect(r.status).toBe(200);
    const closed = await c.closed;
    expect(Date.now() - started).toBeLessThan(5000);
    expect(closed.reason).toBe('grant revoked');
    await expectNoContainers(a.id);
  });

  it('a broker killed with SIGKILL mid-output is taken over: sessions ended, recordings sealed from what was stored, containers removed', async () => {
    const victim = await startProcess();
    const { c, id } = await printing(victim, 'tick', 0.1, 20);
    const ticks = () => [...c.output().matchAll(/^tick-(\d+)\r?$/gm)].map((m) => Number(m[1]));
    await victim.stop('SIGKILL');
    const killed = Date.now();
    const lastSeen = Math.max(...ticks());
    expect(brokerContainers(victim.id)).toHaveLength(1);

    // A survivor (lease 3 s, checked every second) ends the session; well within 60 s.
    const row = await waitFor(
      'the session taken over',
      async () => (await h.broker.db.query(`select end_reason, end_code from console_sessions where id = $1 and ended_at is not null`, [id])).rows[0],
      60_000,
    );
    const takeoverMs = Date.now() - killed;
    console.log(`takeover: a survivor ended the killed broker's session ${takeoverMs} ms after SIGKILL`);
    expect(row).toEqual({ end_reason: `broker ${victim.id} stopped answering`, end_code: 'broker_lost' });
    await expectNoContainers(victim.id, 10_000);

    // The recording holds what was stored (at most about the last flush interval lost), sealed,
    // with the marker saying why it ends early.
    const rec = (await h.broker.db.query(`select sha256, truncated from recordings where session_id = $1`, [id])).rows[0];
    expect(rec.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(rec.truncated).toBe(`broker ${victim.id} stopped answering`);
    const chunks = await recordedChunks(h.broker.db, id);
    const text = chunks.join('');
    const stored = Math.max(...[...text.matchAll(/tick-(\d+)/g)].map((m) => Number(m[1])));
    console.log(`takeover: the client saw tick-${lastSeen}, the recording holds up to tick-${stored} (${lastSeen - stored} ticks of 0.1 s lost)`);
    expect(stored).toBeGreaterThanOrEqual(lastSeen - 15);
    expect(chunks.at(-1)!).toContain(`recording truncated: broker ${victim.id} stopped answering`);

    const lost = (await h.broker.audit.list({ action: 'broker.lost', limit: 1000 })).filter((e) => e.subject === victim.id);
    expect(lost).toHaveLength(1);
    expect([a.id, b.id, h.broker.instanceId]).toContain(lost[0]!.details.takenOverBy);
    const ended = (await h.broker.audit.list({ action: 'console.ended', limit: 1000 })).filter((e) => e.subject === id);
    expect(ended).toHaveLength(1);
    expect(ended[0]!.details.recordingSha256).toBe(rec.sha256);

    // Evidence still verifies: the chain is contiguous and the recording matches its checkpoint.
    const env = { DATABASE_URL: tdb.url, SALLYPORT_SIGNING_KEY: JSON.stringify(h.config.signing.key) };
    await waitFor('the recording checkpoint', async () => (await h.broker.db.query(`select 1 from audit_checkpoints where recording_session = $1`, [id])).rows[0]);
    const audit = await runCli(['verify', 'audit'], env);
    expect(audit.stdout + audit.stderr).toMatch(/OK/);
    expect(audit.code).toBe(0);
    const recording = await runCli(['verify', 'recording', id], env);
    expect(recording.code, recording.stdout + recording.stderr).toBe(0);
    const lastChunk = chunks.length - 1;
    expect(recording.stdout).toContain(`intact`);
    expect(recording.stdout).toContain(`it ends early at chunk ${lastChunk} (broker ${victim.id} stopped answering)`);
  });

  it('a broker stopped with SIGTERM mid-output loses nothing: the recording holds every byte the user saw', async () => {
    const p = await startProcess();
    const { c, id } = await printing(p, 'tock', 0.05, 15);
    await p.stop('SIGTERM');
    await c.closed;
    expect(c.messages.find((m) => m.type === 'exit')).toMatchObject({ reason: 'broker shutting down', code: 'broker_shutdown' });
    const recorded = parseAsciicast(await recordedText(h.broker.db, id)).events.filter((e) => e.code === 'o').map((e) => e.data).join('');
    expect(recorded).toBe(c.output());
    console.log(`SIGTERM mid-output: the client saw ${c.output().length} characters, the recording holds ${recorded.length}`);
    const rec = (await h.broker.db.query(`select sha256, truncated from recordings where session_id = $1`, [id])).rows[0];
    expect(rec).toEqual({ sha256: expect.stringMatching(/^[0-9a-f]{64}$/), truncated: null });
  });

  it('builds keyframes for each recording once, whichever broker sealed it', async () => {
    await waitFor('keyframes built', async () => ((await h.broker.db.query(`select 1 from recordings where sealed_at is not null and not keyframes_done`)).rowCount === 0 ? true : undefined));
    // Every broker looks for unbuilt recordings on every heartbeat; the claim lets one build.
    await new Promise((r) => setTimeout(r, 2500));
    const { rows } = await h.broker.db.query(`select keyframes_builds from recordings where sealed_at is not null`);
    expect(rows.length).toBeGreaterThanOrEqual(3);
    for (const r of rows) expect(r.keyframes_builds).toBe(1);
  });

  it('a broker stopped with SIGTERM drains and says so', async () => {
    await b.stop('SIGTERM');
    const row = (await h.broker.db.query(`select stop_reason from brokers where id = $1`, [b.id])).rows[0];
    expect(row.stop_reason).toBe('stopped');
    const events = (await h.broker.audit.list({ limit: 1000 })).filter((e) => e.subject === b.id).map((e) => e.action);
    expect(events).toEqual(['broker.started', 'broker.stopped']);
  });
});

describe('brokers starting at the same instant', () => {
  it('migrate once, register once each and sign one checkpoint stream', async () => {
    const fresh = await freshDatabase({ empty: true });
    try {
      const [p1, p2] = await Promise.all([
        startProcess(fresh.url, { SALLYPORT_CHECKPOINT_INTERVAL: '1s' }),
        startProcess(fresh.url, { SALLYPORT_CHECKPOINT_INTERVAL: '1s' }),
      ]);
      const { Client } = (await import('pg')).default;
      const db = new Client({ connectionString: fresh.url });
      await db.connect();
      try {
        const shipped = readMigrations(MIGRATIONS_DIR).length;
        expect((await db.query(`select count(*)::int as n, count(distinct version)::int as d from schema_migrations`)).rows[0]).toEqual({ n: shipped, d: shipped });
        const started = (await db.query(`select subject from audit_events where action = 'broker.started'`)).rows.map((r) => r.subject as string);
        expect(started).toHaveLength(2);
        expect(started.map((s) => s.split('-')[0]).sort()).toEqual([p1.id, p2.id].sort());
        // Both timers run every second for 3 s: one checkpoint per head, never two.
        await new Promise((r) => setTimeout(r, 3000));
        const timer = (await db.query(`select seq, count(*)::int as n from audit_checkpoints where recording_session is null group by seq`)).rows;
        expect(timer.length).toBeGreaterThanOrEqual(1);
        for (const t of timer) expect(t.n).toBe(1);
      } finally {
        await db.end();
        await Promise.all([p1.stop(), p2.stop()]);
      }
    } finally {
      await fresh.drop();
    }
  });
});
