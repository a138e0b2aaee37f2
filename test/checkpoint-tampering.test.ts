// A DBA against the signed checkpoints, on real PostgreSQL with real brokers: the running broker
// must not sign a forged head (every checkpoint deleted, or an event rewritten since the last
// one), must say so loudly (log, audit event, /readyz, /metrics) and keep refusing after a
// restart; the verifier calls a moved event time TAMPERED; and clocks that disagree neither
// misdate the evidence nor stop the correct broker from signing.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createAuditLog, createCheckpointer } from '../server/audit/index.js';
import { openDatabase, type Database } from '../server/db/index.js';
import { createSigner, generateSigningKey } from '../server/signing/index.js';
import { verifyAuditLog } from '../server/verify/index.js';
import { startTestBroker, type TestBroker } from './support/broker.js';
import { writeConsoleCatalog } from './support/console-catalog.js';
import { freshDatabase, type TestDatabase } from './support/postgres.js';
import { startServeBeside } from './support/replica.js';
import { recomputeFrom } from './support/tamper.js';
import { PACKAGE_ROOT } from '../server/paths.js';

const cleanup: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const c of cleanup.reverse()) await c().catch(() => undefined);
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function database(): Promise<{ tdb: TestDatabase; db: Database }> {
  const tdb = await freshDatabase();
  const db = openDatabase(tdb.url, { poolSize: 2 });
  cleanup.push(async () => {
    await db.close();
    await tdb.drop();
  });
  return { tdb, db };
}
const count = async (db: Database, sql = `select count(*)::int as n from audit_checkpoints`) => Number((await db.query(sql)).rows[0].n);
const TOKEN = 'metrics-token-for-the-test-0123456789abcdef';
const scrape = async (url: string) => (await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).text();
const event = (i: number | string) => ({ actor: 'system', action: 'broker.started' as const, details: { version: `t${i}`, mode: 'test', leaseSeconds: 30 } });

describe('the running broker', () => {
  it('refuses to sign when a DBA rewrote the chain and deleted every checkpoint, says so everywhere, and still refuses after a restart', async () => {
    const { tdb, db } = await database();
    const catalog = writeConsoleCatalog(inject('consoleImage'));
    const stateFile = join(mkdtempSync(join(tmpdir(), 'sallyport-state-')), 'checkpoint-state.json');
    const env = { SALLYPORT_CATALOG: catalog, CONSOLE_GREETING: 'x', SALLYPORT_CHECKPOINT_INTERVAL: '1s', SALLYPORT_CHECKPOINT_STATE: stateFile, SALLYPORT_METRICS_TOKEN: TOKEN };
    let t: TestBroker = await startTestBroker(env, { database: { ...tdb, drop: async () => undefined } });
    cleanup.push(() => t.close());
    for (let i = 0; i < 5; i++) await t.broker.audit.append(event(i));
    await expect.poll(() => count(db), { timeout: 10_000 }).toBeGreaterThan(0);
    // The DBA: event 3 now says someone else, the chain recomputed, every checkpoint gone.
    await recomputeFrom(db, 3, [`update audit_events set details = jsonb_set(details, '{version}', '"forged"') where seq = 3`], `delete from audit_checkpoints`);
    await t.broker.audit.append(event('after'));
    const refused = async () => (await t.broker.audit.list({ action: 'audit.checkpoint_refused' })).at(-1);
    await expect.poll(refused, { timeout: 10_000 }).toBeTruthy();
    expect((await refused())!.details.reason).toMatch(/^audit checkpoint refused: the table holds no checkpoint, but this broker knows checkpoint \d+ \(event \d+\): checkpoints were deleted/);
    await sleep(2500);
    // Nothing signed over the forgery, however many ticks passed; said once, not every tick.
    expect(await count(db)).toBe(0);
    expect((await t.broker.audit.list({ action: 'audit.checkpoint_refused' })).length).toBe(1);
    const ready = await (await fetch(`${t.url}/readyz`)).json();
    expect(ready.status).toBe('ready');
    expect(ready.warnings.join('\n')).toMatch(/checkpoints were deleted/);
    expect(await scrape(t.url)).toMatch(/^sallyport_audit_checkpoint_refused 1$/m);

    // A restart remembers from the file beside the key, not from the database.
    await t.close();
    t = await startTestBroker(env, { database: { ...tdb, drop: async () => undefined } });
    await t.broker.audit.append(event('restarted'));
    await expect.poll(async () => (await t.broker.audit.list({ action: 'audit.checkpoint_refused' })).length, { timeout: 10_000 }).toBe(2);
    expect(await count(db)).toBe(0);
  });

  it('verifies the events since the last checkpoint before signing: a rewrite under it, or a changed event after it, is refused', async () => {
    const { db } = await database();
    const signer = await createSigner(await generateSigningKey('segment'));
    const audit = createAuditLog(db);
    for (let i = 0; i < 3; i++) await audit.append(event(i));
    const first = await createCheckpointer({ db, signer, issuer: 'test' }).checkpoint();
    for (let i = 3; i < 6; i++) await audit.append(event(i));
    // Event 2 (signed under checkpoint 1) rewritten and the chain recomputed to the head; a broker
    // with no memory of its own (a new one) is anchored by the table's checkpoint.
    await recomputeFrom(db, 2, [`update audit_events set details = jsonb_set(details, '{version}', '"forged"') where seq = 2`]);
    const fresh = createCheckpointer({ db, signer, issuer: 'test' });
    await expect(fresh.checkpoint()).rejects.toThrow(new RegExp(`audit checkpoint refused: event ${Number(first.seq) + 1} does not follow checkpoint ${first.n}: the chain was rewritten`));
    expect(await count(db)).toBe(1);

    // An event after the checkpoint changed in place (its hash left as it was).
    const { db: db2 } = await database();
    const audit2 = createAuditLog(db2);
    for (let i = 0; i < 3; i++) await audit2.append(event(i));
    const c2 = createCheckpointer({ db: db2, signer, issuer: 'test' });
    await c2.checkpoint();
    for (let i = 3; i < 6; i++) await audit2.append(event(i));
    await recomputeFrom(db2, 6, [`update audit_events set details = jsonb_set(details, '{version}', '"again"') where seq = 5`]);
    await expect(c2.checkpoint()).rejects.toThrow(/audit checkpoint refused: event 5 was changed since it was chained/);
  });
});

describe('event and checkpoint times', () => {
  it('an event dated 2099 with the chain recomputed and every checkpoint deleted is TAMPERED, not OK', async () => {
    const { db } = await database();
    const audit = createAuditLog(db);
    for (let i = 0; i < 5; i++) await audit.append(event(i));
    const signer = await createSigner(await generateSigningKey('times'));
    await createCheckpointer({ db, signer, issuer: 'test' }).checkpoint();
    await recomputeFrom(db, 1, [`update audit_events set at = '2099-01-01T00:00:00Z' where seq = 1`], `delete from audit_checkpoints`);
    const report = await verifyAuditLog(db, signer.jwks(), { unsignedGraceSeconds: 0 });
    expect(report.ok).toBe(false);
    expect(report.problem).toMatchObject({ kind: 'time', seq: '1' });
    expect(report.summary).toMatch(/^event 1 is dated 2099-01-01T00:00:00.000Z, after now/);
    // Moved back instead: before the event ahead of it.
    await recomputeFrom(db, 1, [`update audit_events set at = now() where seq = 1`, `update audit_events set at = now() - interval '1 day' where seq = 4`]);
    const back = await verifyAuditLog(db, signer.jwks(), { unsignedGraceSeconds: 0 });
    expect(back.problem).toMatchObject({ kind: 'time' });
  });

  it('a checkpoint dated in the future never stops signing, and new checkpoints are dated by the database', async () => {
    const { db } = await database();
    const audit = createAuditLog(db);
    const signer = await createSigner(await generateSigningKey('future'));
    const checkpointer = createCheckpointer({ db, signer, issuer: 'test', everyMs: 500, tickMs: 50 });
    await audit.append(event(0));
    await checkpointer.checkpoint();
    // What a broker an hour fast signed before times came from the database.
    await db.query(`update audit_checkpoints set signed_at = now() + interval '1 hour'`);
    const stop = checkpointer.start({ warn: () => undefined });
    cleanup.push(stop);
    await audit.append(event(1));
    await expect.poll(() => count(db), { timeout: 5000 }).toBe(2);
    const newest = (await db.query(`select extract(epoch from (now() - signed_at)) as age from audit_checkpoints order by n desc limit 1`)).rows[0];
    expect(Math.abs(Number(newest.age))).toBeLessThan(5);
  });

  it('a broker whose clock runs an hour fast warns at start and on /readyz, and dates its events by the database', async () => {
    // The fault is faked for this one process (test/support/fast-clock.mjs): moving the real clock
    // would move every other process on the machine.
    const served = await startServeBeside(
      inject('consoleImage'),
      { SALLYPORT_TEST_CLOCK_OFFSET_MS: String(3600_000), SALLYPORT_CHECKPOINT_INTERVAL: '1s', SALLYPORT_METRICS_TOKEN: TOKEN },
      ['--import', join(PACKAGE_ROOT, 'test', 'support', 'fast-clock.mjs')],
    );
    cleanup.push(served.stop);
    expect(served.stderrTail()).toMatch(/warning: this broker's clock is 3[56]\d\d\.\d s ahead of the database's/);
    const ready = await (await fetch(`${served.url}/readyz`)).json();
    expect(ready.warnings.join('\n')).toMatch(/clock is 3[56]\d\d\.\d s ahead of the database's/);
    expect(await scrape(served.url)).toMatch(/^sallyport_clock_skew_seconds 3[56]\d\d(\.\d+)?$/m);
    // Its broker.started event is dated now, not an hour ahead.
    const started = (await served.h.broker.db.query(`select extract(epoch from (now() - at)) as age from audit_events where action = 'broker.started' order by seq desc limit 1`)).rows[0];
    expect(Math.abs(Number(started.age))).toBeLessThan(60);
  }, 90_000);
});
