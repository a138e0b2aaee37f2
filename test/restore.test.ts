// A backup restored beside production, on the same Docker engine: a broker started on the copy
// sees production's brokers as lost (their heartbeats stop in the copy) and would once have
// removed their live containers. A copy is another deployment (its database identity differs), so
// it ends nothing of production's. And the documented restore procedure (`sallyport restored`,
// before any broker starts on the copy) records the restore in the chain: the verifier then says
// RESTORED and names the gap against checkpoints kept elsewhere, instead of TAMPERED; a broker
// that remembers checkpoints from before the restore accepts the older table.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { generateSigningKey } from '../server/signing/index.js';
import { Browser, startTestBroker, type TestBroker } from './support/broker.js';
import { connectConsole, PROMPT, type ConsoleConnection } from './support/console-client.js';
import { brokerContainers } from './support/docker.js';
import { writeConsoleCatalog } from './support/console-catalog.js';
import { freshDatabase, type TestDatabase } from './support/postgres.js';
import { runCli } from './support/process.js';

const dir = mkdtempSync(join(tmpdir(), 'sallyport-restore-'));
const cleanup: Array<() => Promise<unknown> | unknown> = [];
let prod: TestBroker;
let prodDb: TestDatabase;
let live: ConsoleConnection;
let dump: string;
let shared: Record<string, string>;
let prodState: string;
let external: string;
let jwksFile: string;

/** A new database restored from the dump, as an operator's pg_restore would make it. */
async function restoredCopy(): Promise<TestDatabase> {
  const copy = await freshDatabase({ empty: true });
  cleanup.push(() => copy.drop());
  execFileSync('psql', ['-q', '-v', 'ON_ERROR_STOP=1', '-d', copy.url, '-f', dump], { stdio: ['ignore', 'ignore', 'pipe'] });
  return copy;
}

beforeAll(async () => {
  prodDb = await freshDatabase();
  cleanup.push(() => prodDb.drop());
  prodState = join(dir, 'prod-state.json');
  shared = { SALLYPORT_CATALOG: writeConsoleCatalog(inject('consoleImage')), CONSOLE_GREETING: 'x', SALLYPORT_SIGNING_KEY: JSON.stringify(await generateSigningKey('restore-key')), SALLYPORT_CHECKPOINT_INTERVAL: '1s' };
  // Production: a short lease, so a copy of its database sees it as lost within seconds.
  prod = await startTestBroker({ ...shared, SALLYPORT_BROKER_LEASE_SECONDS: '3', SALLYPORT_CHECKPOINT_STATE: prodState }, { database: { ...prodDb, drop: async () => undefined } });
  cleanup.push(() => prod.close());
  const b = new Browser();
  await prod.login(b, 'alice');
  live = await connectConsole(prod.url, 'shell', { cookie: `sallyport=${b.cookies(prod.url).get('sallyport')}` });
  await live.waitFor(PROMPT);
  await prod.broker.checkpointer.checkpoint();
  // The nightly backup.
  dump = join(dir, 'prod.sql');
  execFileSync('pg_dump', ['-d', prodDb.url, '-f', dump, '--no-owner']);
  // Production goes on after the backup: events and checkpoints the backup will not have, whose
  // signed copy is kept outside the database (the published endpoint, saved).
  for (let i = 0; i < 3; i++) {
    await prod.broker.audit.append({ actor: 'system', action: 'broker.started', details: { version: `after-backup-${i}`, mode: 'test', leaseSeconds: 3 } });
    await prod.broker.checkpointer.checkpoint();
  }
  external = join(dir, 'published.json');
  writeFileSync(external, await (await fetch(`${prod.url}/.well-known/sallyport/checkpoint`)).text());
  jwksFile = join(dir, 'jwks.json');
  writeFileSync(jwksFile, JSON.stringify(prod.broker.signer.jwks()));
}, 120_000);
afterAll(async () => {
  live?.ws.close();
  for (const c of cleanup.reverse()) await c();
});

describe('a restored copy beside production', () => {
  it('ends nothing of production’s, though it takes production’s brokers for lost', async () => {
    const copy = await restoredCopy();
    const c = await startTestBroker({ ...shared, SALLYPORT_BROKER_LEASE_SECONDS: '3' }, { database: { ...copy, drop: async () => undefined } });
    cleanup.push(() => c.close());
    // The copy claims production's broker (its heartbeat stopped in the copy)…
    await expect.poll(async () => (await c.broker.db.query(`select count(*)::int as n from brokers where id = $1 and stop_reason = 'lost'`, [prod.broker.instanceId])).rows[0].n, { timeout: 20_000 }).toBe(1);
    await new Promise((r) => setTimeout(r, 4000)); // a few more recovery passes
    // …yet production's container is there and its console answers.
    expect(brokerContainers(prod.broker.instanceId)).toHaveLength(1);
    live.type('echo "still-""alive"\n');
    await live.waitFor(/^still-alive\r?$/m);
    expect((await prod.broker.db.query(`select count(*)::int as n from audit_events where action = 'broker.lost'`)).rows[0].n).toBe(0);
  }, 60_000);

  it('is RESTORED with the gap named once the restore is recorded, TAMPERED before; a broker remembering the lost checkpoints accepts it', async () => {
    // Without the procedure: the copy against the copy kept outside is a deletion.
    const bare = await restoredCopy();
    const before = await runCli(['verify', 'audit', '--jwks', jwksFile, '--checkpoints', external], { DATABASE_URL: bare.url });
    expect(before.code).toBe(1);
    expect(before.stderr).toMatch(/^TAMPERED: (events from \d+ were removed|signed checkpoint number \d+ is missing)/);

    // The procedure: record the restore before any broker starts on it.
    const copy = await restoredCopy();
    const rec = await runCli(['restored', '--reason', 'disk failure on db-1; restored the nightly dump'], { DATABASE_URL: copy.url });
    expect(rec.code, rec.stderr).toBe(0);
    expect(rec.stdout).toMatch(/^recorded the restore as event \d+: this database holds events through \d+ and checkpoint \d+ \(event \d+\)/);
    const after = await runCli(['verify', 'audit', '--jwks', jwksFile, '--checkpoints', external], { DATABASE_URL: copy.url });
    expect(after.stderr).toBe('');
    expect(after.code).toBe(0);
    expect(after.stdout).toMatch(/^RESTORED: intact through event \d+ .*restored from a backup on .* \(event \d+: "disk failure on db-1; restored the nightly dump"\): the backup ends at event \d+ \/ checkpoint \d+; events \d+…\d+ signed in checkpoints [\d, ]+ before the restore are the gap/);

    // Production's broker state (it knew the checkpoints after the backup) on the restored
    // database: the recorded restore explains the older table, so it signs rather than refuses.
    const state = join(dir, 'moved-state.json');
    expect(existsSync(prodState)).toBe(true);
    copyFileSync(prodState, state);
    const r = await startTestBroker({ ...shared, SALLYPORT_CHECKPOINT_STATE: state }, { database: { ...copy, drop: async () => undefined } });
    cleanup.push(() => r.close());
    const n0 = Number((await r.broker.db.query(`select count(*)::int as n from audit_checkpoints`)).rows[0].n);
    await r.broker.audit.append({ actor: 'system', action: 'broker.started', details: { version: 'after-restore', mode: 'test', leaseSeconds: 30 } });
    await expect.poll(async () => Number((await r.broker.db.query(`select count(*)::int as n from audit_checkpoints`)).rows[0].n), { timeout: 10_000 }).toBeGreaterThan(n0);
    expect((await r.broker.audit.list({ action: 'audit.checkpoint_refused' })).length).toBe(0);
    // Checkpoints signed after the restore verify; the gap is still named.
    const later = await runCli(['verify', 'audit', '--jwks', jwksFile, '--checkpoints', external], { DATABASE_URL: copy.url });
    expect(later.code, later.stderr).toBe(0);
    expect(later.stdout).toMatch(/^RESTORED: .* are the gap/);
  }, 90_000);
});
