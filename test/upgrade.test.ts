// An upgrade from the previous release, as an operator does it: the database is made and filled
// by the previous release's own code (its tree taken from git at the commit recorded in
// migrations/releases.json: its broker, its migrations, its test harness) — logins, an approved
// grant, a recorded console, a command-line login — then the current code migrates it and serves
// it. Everything the old broker stored reads: the session and its recording, the audit chain and
// the recording's signed checkpoint verify; the old command-line login ended at the migration; new
// consoles work and their evidence verifies.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { generateSigningKey } from '../server/signing/index.js';
import { verifyAuditLog } from '../server/verify/index.js';
import { MIGRATIONS_DIR, PACKAGE_ROOT } from '../server/paths.js';
import { apiSession } from './support/api-session.js';
import { startTestBroker, type TestBroker } from './support/broker.js';
import { connectConsole, PROMPT } from './support/console-client.js';
import { writeConsoleCatalog } from './support/console-catalog.js';
import { freshDatabase, type TestDatabase } from './support/postgres.js';
import { runCli } from './support/process.js';

const previous = (JSON.parse(readFileSync(join(MIGRATIONS_DIR, 'releases.json'), 'utf8')) as { releases: Array<{ version: string; commit: string }> }).releases.at(-1)!;
const cleanup: Array<() => Promise<unknown> | unknown> = [];
afterAll(async () => {
  for (const c of cleanup.reverse()) await c();
});

/** The previous release's tree from git, runnable with this checkout's dependencies and web build. */
function previousTree(): string {
  const dir = mkdtempSync(join(tmpdir(), `sallyport-v${previous.version}-`));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  const archive = execFileSync('git', ['archive', '--format=tar', previous.commit, 'package.json', 'server', 'test/support', 'migrations', 'images'], { cwd: PACKAGE_ROOT, maxBuffer: 256 * 1024 * 1024 });
  execFileSync('tar', ['-x', '-C', dir], { input: archive });
  symlinkSync(join(PACKAGE_ROOT, 'node_modules'), join(dir, 'node_modules'));
  mkdirSync(join(dir, 'dist'), { recursive: true });
  symlinkSync(join(PACKAGE_ROOT, 'dist', 'web'), join(dir, 'dist', 'web'));
  return dir;
}

describe(`an upgrade from ${previous.version}`, () => {
  it('keeps every session, recording, grant and audit event the previous release stored, and verifies them', async () => {
    const tdb: TestDatabase = await freshDatabase({ empty: true });
    cleanup.push(() => tdb.drop());
    const database = { ...tdb, drop: async () => undefined };
    const catalog = writeConsoleCatalog(inject('consoleImage'));
    // What stays across the upgrade, as in production: the signing key and the session secret.
    const shared = { SALLYPORT_CATALOG: catalog, CONSOLE_GREETING: 'x', SALLYPORT_SIGNING_KEY: JSON.stringify(await generateSigningKey('upgrade-key')), SALLYPORT_SESSION_SECRET: 'u'.repeat(48) };

    // ---- the previous release, its own code from end to end
    const old = previousTree();
    const oldBroker = (await import(join(old, 'test/support/broker.ts'))) as typeof import('./support/broker.js');
    const oldApi = (await import(join(old, 'test/support/api-session.ts'))) as typeof import('./support/api-session.js');
    const oldClient = (await import(join(old, 'test/support/console-client.ts'))) as typeof import('./support/console-client.js');
    let sessionId: string;
    let grantId: string;
    let cliToken: string;
    const o = await oldBroker.startTestBroker(shared, { database });
    try {
      const alice = await oldApi.apiSession(o, 'alice');
      const bob = await oldApi.apiSession(o, 'bob');
      const asked = await alice.post('/api/access-requests', { target: 'gated', reason: 'before the upgrade', durationSeconds: 3600 });
      expect(asked.status).toBe(201);
      grantId = asked.body.id;
      await bob.relogin();
      expect((await bob.post(`/api/access-requests/${grantId}/decision`, { decision: 'approve', comment: 'ok' })).status).toBe(200);
      const c = await oldClient.connectConsole(o.url, 'gated', { cookie: `sallyport=${alice.browser.cookies(o.url).get('sallyport')}` });
      await c.waitFor(oldClient.PROMPT);
      sessionId = c.sessionId();
      c.type('echo "from-""the-old-release"; exit\n');
      await c.closed;
      await expect.poll(async () => (await o.broker.db.query(`select 1 from audit_checkpoints where recording_session = $1`, [sessionId])).rowCount, { timeout: 15_000 }).toBe(1);
      // A command-line login made by the previous release.
      const start = await (await fetch(`${o.url}/api/cli-logins`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"client":"old-cli"}' })).json();
      const dave = await oldApi.apiSession(o, 'dave');
      expect((await dave.post(`/api/cli-logins/${new URL(start.url).pathname.slice(5)}/confirm`, {})).status).toBe(200);
      cliToken = (await (await fetch(`${o.url}/api/cli-logins/poll`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ pollSecret: start.pollSecret }) })).json()).token;
      expect((await fetch(`${o.url}/api/live`, { headers: { authorization: `Bearer ${cliToken}` } })).status).toBe(200);
      await o.broker.checkpointer.checkpoint();
    } finally {
      await o.close();
    }

    // ---- this release: migrate and serve the same database
    const t: TestBroker = await startTestBroker(shared, { database });
    cleanup.push(() => t.close());
    const applied = (await t.broker.db.query(`select version from schema_migrations where version > 20 order by version`)).rows.map((r) => r.version);
    expect(applied).toEqual(readFileSync(join(MIGRATIONS_DIR, 'manifest.json'), 'utf8').match(/"file": "(\d{3})_/g)!.map((m) => Number(m.slice(9, 12))).filter((v) => v > 20));
    // The old chain is version 1, and verifies.
    expect((await t.broker.db.query(`select count(*)::int as n from audit_events where chain_v = 1`)).rows[0].n).toBeGreaterThan(10);
    const jwks = t.broker.signer.jwks();
    expect((await verifyAuditLog(t.broker.db, jwks)).problem).toBeNull();
    // The old session and its recording read; its signed checkpoint verifies.
    const carol = await apiSession(t, 'carol');
    const sessions = (await carol.get('/api/sessions')).body.sessions as Array<{ id: string; target: string; approved: boolean; recording: unknown }>;
    expect(sessions.find((s) => s.id === sessionId)).toMatchObject({ target: 'gated', approved: true, recording: expect.anything() });
    const cast = await (await fetch(`${t.url}/api/sessions/${sessionId}/recording`, { headers: { cookie: `sallyport=${carol.browser.cookies(t.url).get('sallyport')}` } })).text();
    expect(cast).toContain('from-the-old-release');
    // Its words, indexed by the old release, are found through the index 028 rebuilt.
    const hits = (await carol.get('/api/search?q=from-the-old-release')).body.results as Array<{ sessionId: string }>;
    expect(hits.map((h) => h.sessionId)).toContain(sessionId);
    const dir = mkdtempSync(join(tmpdir(), 'sallyport-upgrade-'));
    writeFileSync(join(dir, 'jwks.json'), JSON.stringify(jwks));
    const rec = await runCli(['verify', 'recording', sessionId, '--jwks', join(dir, 'jwks.json')], { DATABASE_URL: tdb.url });
    expect(rec.stdout, rec.stderr).toMatch(new RegExp(`^OK: recording ${sessionId} is intact`));
    expect((await carol.get(`/api/access-requests/${grantId}`)).body).toMatchObject({ status: 'approved', reason: 'before the upgrade' });
    // The old command-line login had no parent login: it ended at the migration.
    expect((await fetch(`${t.url}/api/live`, { headers: { authorization: `Bearer ${cliToken}` } })).status).toBe(401);

    // New work on the upgraded database: a console, its evidence, and the whole chain still verify.
    const alice = await apiSession(t, 'alice');
    const c = await connectConsole(t.url, 'shell', { cookie: `sallyport=${alice.browser.cookies(t.url).get('sallyport')}` });
    await c.waitFor(PROMPT);
    const newId = c.sessionId();
    c.type('echo "after-""the-upgrade"; exit\n');
    await c.closed;
    await expect.poll(async () => (await t.broker.db.query(`select 1 from audit_checkpoints where recording_session = $1`, [newId])).rowCount, { timeout: 15_000 }).toBe(1);
    const res = await fetch(`${t.url}/api/sessions/${newId}/bundle`, { headers: { cookie: `sallyport=${carol.browser.cookies(t.url).get('sallyport')}` } });
    expect(res.status).toBe(200);
    writeFileSync(join(dir, 'new.tar'), Buffer.from(await res.arrayBuffer()));
    const bundle = await runCli(['verify', 'recording', join(dir, 'new.tar'), '--jwks', join(dir, 'jwks.json')], {});
    expect(bundle.stdout, bundle.stderr).toMatch(/^OK: bundle for session .* is intact/);
    expect((await t.broker.db.query(`select count(*)::int as n from audit_events where chain_v = 2`)).rows[0].n).toBeGreaterThan(0);
    const after = await verifyAuditLog(t.broker.db, jwks);
    expect(after.problem).toBeNull();
  }, 180_000);
});
