// Retention and legal hold, on a real broker and PostgreSQL. Time is the one thing a test cannot
// wait for (30 days), so the consoles' end times are moved back in the database; everything else
// is what a pass does in production: a recording past its target's retention (or the default)
// loses its bytes and index, its hash stays, the removal is a chained audit event, replay and
// bundle say "removed by retention", `verify recording` says EXPIRED (exit 3) and `verify audit`
// still passes; a legal hold placed by an auditor keeps a recording until released; a removal
// made outside retention is TAMPERED; old logins are pruned.
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { verifyAuditLog } from '../server/verify/index.js';
import { apiSession, type ApiSession } from './support/api-session.js';
import { startTestBroker, type TestBroker } from './support/broker.js';
import { connectConsole, PROMPT } from './support/console-client.js';
import { writeConsoleCatalog } from './support/console-catalog.js';
import { runCli, waitFor } from './support/process.js';

let t: TestBroker;
let alice: ApiSession, carol: ApiSession;
let catalog: string;

beforeAll(async () => {
  catalog = writeConsoleCatalog(inject('consoleImage'));
  // shell keeps 30 days; quiet says nothing, so the broker's default (60 days) applies.
  writeFileSync(catalog, readFileSync(catalog, 'utf8').replace('name: shell, description: a shell,', 'name: shell, description: a shell, retention: 30d,'));
  t = await startTestBroker({ SALLYPORT_CATALOG: catalog, CONSOLE_GREETING: 'x', SALLYPORT_RECORDING_RETENTION: '60d' });
  [alice, carol] = [await apiSession(t, 'alice'), await apiSession(t, 'carol')];
});
afterAll(async () => {
  await t?.close();
});

/** A console of alice's that prints `word`, ended and sealed; its session id. */
async function recorded(target: string, word: string): Promise<string> {
  const c = await connectConsole(t.url, target, { cookie: `sallyport=${alice.browser.cookies(t.url).get('sallyport')}` });
  await c.waitFor(PROMPT);
  const id = c.sessionId();
  const [a, b] = [word.slice(0, 4), word.slice(4)];
  c.type(`echo "${a}""${b}"; exit\n`);
  await c.closed;
  await waitFor('sealed and indexed', async () => {
    const r = await t.broker.db.query(
      `select 1 from recordings r where session_id = $1 and sealed_at is not null
          and not exists (select 1 from recording_index_queue q where q.session_id = r.session_id)`,
      [id],
    );
    return r.rowCount ? true : undefined;
  });
  return id;
}

const endedDaysAgo = (id: string, days: number) =>
  t.broker.db.query(`update console_sessions set ended_at = now() - make_interval(days => $2) where id = $1`, [id, days]);
const stored = async (id: string) =>
  Number((await t.broker.db.query(`select (select count(*) from recording_chunks where session_id = $1) + (select count(*) from recording_text where session_id = $1) as n`, [id])).rows[0].n);
const env = () => ({ DATABASE_URL: t.config.databaseUrl, SALLYPORT_SIGNING_KEY: JSON.stringify(t.config.signing.key) });

describe('retention', () => {
  it('removes what is past its target\'s retention, keeps the rest and what is held, and says so everywhere', async () => {
    const old = await recorded('shell', 'retainedword');
    const young = await recorded('shell', 'youngword');
    const quiet = await recorded('quiet', 'quietword');
    const held = await recorded('shell', 'heldword');
    await endedDaysAgo(old, 40);
    await endedDaysAgo(young, 20);
    await endedDaysAgo(quiet, 40); // the default, 60 days, applies: kept
    await endedDaysAgo(held, 40);
    const sha = (await t.broker.db.query(`select sha256 from recordings where session_id = $1`, [old])).rows[0].sha256 as string;
    expect(await stored(old)).toBeGreaterThan(0);

    // An auditor holds one; a developer may not.
    expect((await alice.post(`/api/sessions/${held}/hold`, { reason: 'matter 17' })).status).toBe(403);
    expect((await carol.post(`/api/sessions/${held}/hold`, { reason: '  ' })).status).toBe(400);
    const hold = await carol.post(`/api/sessions/${held}/hold`, { reason: 'matter 17' });
    expect(hold.status).toBe(200);
    expect(hold.body).toMatchObject({ heldBy: 'carol', reason: 'matter 17' });
    expect((await carol.get(`/api/sessions/${held}`)).body.recording.heldSince).toBeTruthy();

    const pass = await t.broker.retention.pass();
    expect(pass.expired).toEqual([old]);
    expect(await stored(old)).toBe(0);
    for (const kept of [young, quiet, held]) expect(await stored(kept)).toBeGreaterThan(0);

    // The record of it: a chained event naming the recording and its hash; the chain verifies.
    const events = (await t.broker.audit.list({ action: 'recording.expired', limit: 10 })).filter((e) => e.subject === old);
    expect(events).toHaveLength(1);
    expect(events[0]!.details).toMatchObject({ target: 'shell', sha256: sha, retentionSeconds: 30 * 86400 });
    expect((await verifyAuditLog(t.broker.db, t.broker.signer.jwks())).problem).toBeNull();

    // What a user and an auditor see.
    const meta = await carol.get(`/api/sessions/${old}`);
    expect(meta.body.recording).toMatchObject({ sha256: sha, expiredAt: expect.any(String) });
    for (const path of ['recording', 'bundle', 'index', 'commands']) {
      const r = await carol.get(`/api/sessions/${old}/${path}`);
      expect(r.status, path).toBe(410);
      expect(r.body.error.message).toMatch(/removed by retention on .*recording\.expired/);
    }
    const search = async (q: string) => ((await carol.get(`/api/search?q=${q}`)).body.results as Array<{ sessionId: string }>).map((r) => r.sessionId);
    expect(await search('retainedword')).toEqual([]);
    expect(await search('youngword')).toEqual([young]);

    // The verifier: EXPIRED with its own exit status, naming when and the event; kept ones OK.
    const v = await runCli(['verify', 'recording', old], env());
    expect(v.code).toBe(3);
    expect(v.stderr).toMatch(new RegExp(`^EXPIRED: recording ${old} expired on .* by retention \\(30 d after its console ended .*sealed as sha256 ${sha}.*audit event \\d+`));
    expect((await runCli(['verify', 'recording', young], env())).code).toBe(0);

    // A hold cannot bring a removed one back; releasing lets retention take the held one.
    expect((await carol.post(`/api/sessions/${old}/hold`, { reason: 'too late' })).status).toBe(409);
    expect((await carol.post(`/api/sessions/${held}/hold/release`, { reason: 'matter 17 closed' })).status).toBe(200);
    expect((await t.broker.retention.pass()).expired).toEqual([held]);
    const trail = (await t.broker.audit.list({ limit: 1000 })).filter((e) => e.subject === held).map((e) => e.action);
    expect(trail).toEqual(expect.arrayContaining(['recording.held', 'recording.hold_released', 'recording.expired']));

    // Past the default too.
    await endedDaysAgo(quiet, 70);
    expect((await t.broker.retention.pass()).expired).toEqual([quiet]);
    expect((await verifyAuditLog(t.broker.db, t.broker.signer.jwks())).problem).toBeNull();
  }, 120_000);

  it('calls a recording removed outside retention TAMPERED', async () => {
    const id = await recorded('shell', 'deletedword');
    // What someone with the database's password would do to hide a session, dressed as retention.
    await t.broker.db.query(`delete from recording_chunks where session_id = $1`, [id]);
    await t.broker.db.query(`update recordings set expired_at = now() where session_id = $1`, [id]);
    const v = await runCli(['verify', 'recording', id], env());
    expect(v.code).toBe(1);
    expect(v.stderr).toMatch(/^TAMPERED: .*no recording\.expired audit event names the hash .*deleted outside retention/);
  }, 60_000);

  it('prunes logins long ended, never a live one', async () => {
    const count = async () => Number((await t.broker.db.query(`select count(*) as n from browser_sessions`)).rows[0].n);
    const before = await count();
    const gone = await apiSession(t, 'bob');
    await t.broker.db.query(
      `update browser_sessions set expires_at = now() - interval '40 days', created_at = now() - interval '41 days', auth_time = now() - interval '41 days', last_seen_at = now() - interval '40 days'
        where user_id = (select id from users where username = 'bob')`,
    );
    const { pruned } = await t.broker.retention.pass();
    expect(pruned.browserSessions).toBeGreaterThanOrEqual(1);
    expect((await gone.get('/api/me')).status).toBe(401);
    expect((await carol.get('/api/me')).status).toBe(200);
    expect(await count()).toBeLessThan(before + 1);
  });

  it('refuses a retention shorter than a day in the catalogue and in the configuration, naming the field', async () => {
    writeFileSync(catalog, readFileSync(catalog, 'utf8').replace('retention: 30d,', 'retention: 90s,'));
    const check = await runCli(['catalog', 'check', catalog], { CONSOLE_GREETING: 'x' });
    expect(check.code).not.toBe(0);
    expect(check.stderr + check.stdout).toMatch(/target "shell"\.retention: must be at least a day, like 90d or 400d, or "forever"; got "90s"/);
    const r = await runCli(['serve'], { ...env(), SALLYPORT_RECORDING_RETENTION: '12h' });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/SALLYPORT_RECORDING_RETENTION.*at least a day/);
  });
});
