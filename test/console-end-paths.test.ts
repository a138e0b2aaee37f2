// Every end of a console is written the same way, on a PostgreSQL cluster of this test's own with
// real faults: a start that fails because the database went away between the container starting
// and the session being marked started (the control pass ends it: audited, sealed, the grant's
// use given back), and a full disk under the recording (the session ends with its recording
// unsealed; once the disk has room, the recovery pass seals it from storage, marked and audited,
// it gets its signed checkpoint, and its evidence bundle verifies).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Browser, startTestBroker, type TestBroker } from './support/broker.js';
import { connectConsole, PROMPT } from './support/console-client.js';
import { writeConsoleCatalog } from './support/console-catalog.js';
import { startPgCluster, type PgCluster } from './support/pg-cluster.js';
import { runCli, waitFor } from './support/process.js';

let cluster: PgCluster;
let t: TestBroker;
let cookie: string;

beforeAll(async () => {
  cluster = await startPgCluster();
  t = await startTestBroker(
    { SALLYPORT_CATALOG: writeConsoleCatalog(inject('consoleImage')), CONSOLE_GREETING: 'x', SALLYPORT_BROKER_LEASE_SECONDS: '3', SALLYPORT_CHECKPOINT_INTERVAL: '1s' },
    { database: { name: 'postgres', url: cluster.url, drop: async () => {} } },
  );
  const b = new Browser();
  await t.login(b, 'alice');
  await t.login(new Browser(), 'bob');
  cookie = `sallyport=${b.cookies(t.url).get('sallyport')}`;
});
afterAll(async () => {
  await t?.close();
  cluster?.destroy();
});

const principal = async (username: string, roles: string[]) => {
  const u = (await t.broker.db.query(`select * from users where username = $1`, [username])).rows[0];
  return { userId: u.id, issuer: u.issuer, subject: u.subject, username, displayName: null, email: null, groups: u.groups, roles, authTime: new Date() } as never;
};

describe('a console that never ran', () => {
  it('ends audited, sealed and with its grant use given back when the database goes away mid-start', async () => {
    const r = await t.broker.access.request(await principal('alice', ['developer']), 'gated', { reason: 'mid-start', durationSeconds: 600 });
    await t.broker.access.decide(await principal('bob', ['approver']), r.id, 'approve', 'ok');
    // Watch from outside the broker's pool: the moment step 1 committed (row, grant use) and the
    // container is starting, stop the database, so marking it started fails.
    let id: string | undefined;
    for (let attempt = 0; attempt < 4 && !id; attempt++) {
      const watcher = new pg.Client({ connectionString: cluster.url });
      await watcher.connect();
      // Resolves with whether the console came up (a prompt) or closed without one.
      const opening = connectConsole(t.url, 'gated', { cookie }).then(
        (c) => Promise.race([c.waitFor(PROMPT, 30_000).then(() => ({ c, started: true })), c.closed.then(() => ({ c, started: false }))]),
        () => ({ c: undefined, started: false }),
      );
      let row: { id: string } | undefined;
      for (let i = 0; i < 1000 && !row; i++) {
        row = (await watcher.query(`select id from console_sessions where grant_id = $1 and container_id is null and ended_at is null`, [r.id])).rows[0];
      }
      await watcher.end();
      if (!row) continue;
      cluster.stop();
      const outcome = await opening;
      cluster.start();
      if (outcome.started) {
        // It started before the database went: not this fault. End it and try again.
        outcome.c!.ws.close();
        await waitFor('the console ended', async () => ((await t.broker.db.query(`select 1 from console_sessions where id = $1 and ended_at is not null`, [row.id]).catch(() => ({ rowCount: 0 }))).rowCount ? true : undefined), 30_000);
        continue;
      }
      id = row.id;
    }
    expect(id, 'a start interrupted by the outage').toBeDefined();
    const failed = await waitFor(
      'the control pass ends the half-started session',
      async () => (await t.broker.db.query(`select details from audit_events where action = 'console.failed' and subject = $1`, [id]).catch(() => ({ rows: [] }))).rows[0]?.details,
      30_000,
    );
    expect(failed, 'console.failed').toMatchObject({ target: 'gated', code: 'DB_UNAVAILABLE', grantId: r.id, grantUseReturned: true, recordingSha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
    const row = (await t.broker.db.query(`select end_code, end_reason from console_sessions where id = $1`, [id])).rows[0];
    expect(row).toEqual({ end_code: 'failed_to_start', end_reason: 'failed to start: DB_UNAVAILABLE' });
    expect((await t.broker.db.query(`select sealed_at is not null as sealed from recordings where session_id = $1`, [id])).rows[0].sealed).toBe(true);
    // The grant's use is back: it opens a console now.
    const c = await connectConsole(t.url, 'gated', { cookie });
    await c.waitFor(PROMPT);
    c.type('exit\n');
    await c.closed;
  }, 120_000);
});

describe('a full disk under the recording', () => {
  it('ends the console with its recording unsealed, then seals it late once there is room; the bundle verifies', async () => {
    // The fault is PostgreSQL's own "disk full" error (53100) raised by a trigger while a flag is
    // set: a really full disk cannot be made to refuse the seal's small marker row on cue
    // (PostgreSQL puts a small row in a page's free space), and this cluster is the test's own.
    const admin = new pg.Client({ connectionString: cluster.url });
    await admin.connect();
    await admin.query(`create table test_disk (full_now boolean not null)`);
    await admin.query(`insert into test_disk values (false)`);
    await admin.query(`create function test_disk_full() returns trigger language plpgsql as $$
      begin
        if (select full_now from test_disk) then
          raise exception using errcode = 'disk_full', message = 'could not extend file "base/5/16500": No space left on device';
        end if;
        return new;
      end $$`);
    await admin.query(`create trigger test_disk_full before insert on recording_chunks for each row execute function test_disk_full()`);
    try {
      const c = await connectConsole(t.url, 'shell', { cookie });
      await c.waitFor(PROMPT);
      const id = c.sessionId();
      c.type('echo "before-""full"\n');
      await c.waitFor(/^before-full\r?$/m);
      await new Promise((r) => setTimeout(r, 1300)); // stored
      await admin.query(`update test_disk set full_now = true`);
      c.type('echo "while-""full"\n');
      const closed = await c.closed;
      expect(closed.reason).toBe('recording failed');
      const ended = await waitFor('console.ended', async () => (await t.broker.db.query(`select details from audit_events where action = 'console.ended' and subject = $1`, [id])).rows[0]?.details, 30_000);
      // Storage refused even the seal from storage: nothing to sign, no bundle yet.
      expect(ended.recordingSha256).toBeNull();
      expect((await t.broker.db.query(`select sealed_at from recordings where session_id = $1`, [id])).rows[0].sealed_at).toBeNull();

      // Room again: the recovery pass (every heartbeat) seals it from storage, marked, and audits it.
      await admin.query(`update test_disk set full_now = false`);
      const late = await waitFor('recording.sealed_late', async () => (await t.broker.db.query(`select details from audit_events where action = 'recording.sealed_late' and subject = $1`, [id])).rows[0]?.details, 30_000);
      expect(late).toMatchObject({ sha256: expect.stringMatching(/^[0-9a-f]{64}$/), why: expect.stringMatching(/^sealed after the session ended \(recording failed\)/) });
      await waitFor('its signed checkpoint', async () => ((await t.broker.db.query(`select 1 from audit_checkpoints where recording_session = $1`, [id])).rowCount ? true : undefined), 30_000);
      const carol = new Browser();
      await t.login(carol, 'carol');
      const res = await fetch(`${t.url}/api/sessions/${id}/bundle`, { headers: { cookie: `sallyport=${carol.cookies(t.url).get('sallyport')}` } });
      expect(res.status).toBe(200);
      const dir = mkdtempSync(join(tmpdir(), 'sallyport-late-'));
      writeFileSync(join(dir, 'bundle.tar'), Buffer.from(await res.arrayBuffer()));
      writeFileSync(join(dir, 'jwks.json'), JSON.stringify(t.broker.signer.jwks()));
      const verified = await runCli(['verify', 'recording', join(dir, 'bundle.tar'), '--jwks', join(dir, 'jwks.json')], {});
      expect(verified.stderr).toBe('');
      expect(verified.code).toBe(0);
      const text = execFileSync('tar', ['-xOf', join(dir, 'bundle.tar'), 'recording.cast'], { encoding: 'utf8' });
      expect(text).toContain('before-full');
      expect(text).toContain('recording truncated: sealed after the session ended');
    } finally {
      await admin.query(`drop trigger if exists test_disk_full on recording_chunks`);
      await admin.end();
    }
  }, 120_000);
});
