// The database layer on real PostgreSQL: migrations are applied once even when two brokers
// start together, an edited migration is refused, and the audit log refuses change.
import { cpSync, mkdtempSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuditLog } from '../server/audit/index.js';
import { migrate, openDatabase, pendingMigrations, readMigrations, tryInSavepoint } from '../server/db/index.js';
import { MIGRATIONS_DIR } from '../server/paths.js';
import { freshDatabase, useDatabase, type TestDatabase } from './support/postgres.js';

/** A copy of the shipped migrations with `text` appended to `file` (created if new). */
function migrationsWith(file: string, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'sallyport-migrations-'));
  cpSync(MIGRATIONS_DIR, dir, { recursive: true });
  appendFileSync(join(dir, file), text);
  return dir;
}

describe('migrations', () => {
  let tdb: TestDatabase;
  beforeAll(async () => {
    tdb = await freshDatabase({ empty: true });
  });
  afterAll(async () => {
    await tdb?.drop();
  });

  it('two brokers migrating an empty database at once apply each migration exactly once', async () => {
    const a = openDatabase(tdb.url, { poolSize: 1 });
    const b = openDatabase(tdb.url, { poolSize: 1 });
    try {
      const shipped = readMigrations(MIGRATIONS_DIR).map((m) => m.version);
      expect(await pendingMigrations(a, shipped)).toEqual(shipped);
      const [ra, rb] = await Promise.all([migrate(a, MIGRATIONS_DIR), migrate(b, MIGRATIONS_DIR)]);
      const all = readMigrations(MIGRATIONS_DIR).map((m) => m.version);
      // One of them did the work, the other found nothing left to do.
      expect([...ra, ...rb].sort((x, y) => x - y)).toEqual(all);
      const { rows } = await a.query<{ version: number }>('select version from schema_migrations order by version');
      expect(rows.map((r) => r.version)).toEqual(all);
      expect(await pendingMigrations(a, shipped)).toEqual([]);
      expect(await migrate(a, MIGRATIONS_DIR)).toEqual([]);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('refuses to run when an applied migration was edited', async () => {
    const dir = migrationsWith('001_foundation.sql', '\n-- sneaky edit\n');
    const db = openDatabase(tdb.url, { poolSize: 1 });
    try {
      await expect(migrate(db, dir)).rejects.toThrow(/001_foundation was changed after it was applied/);
    } finally {
      await db.close();
    }
  });

  it('rolls back a failing migration and reports which one', async () => {
    const dir = migrationsWith('999_broken.sql', 'create table half_done (id int);\nselect * from no_such_table;\n');
    const db = openDatabase(tdb.url, { poolSize: 1 });
    try {
      await expect(migrate(db, dir)).rejects.toThrow(/migration 999_broken failed: .*no_such_table/);
      const { rows } = await db.query(`select to_regclass('half_done') as t`);
      expect(rows[0].t).toBeNull();
    } finally {
      await db.close();
    }
  });
});

describe('audit log', () => {
  const handle = useDatabase();

  it('appends typed events in order', async () => {
    const audit = createAuditLog(handle.db);
    await audit.append({ actor: 'system', action: 'broker.started', details: { version: 't', mode: 'production', leaseSeconds: 30 } });
    await audit.append({ actor: 'anonymous', action: 'auth.login_failed', details: { reason: 'bad state', stage: 'callback' } });
    const events = await audit.list({});
    expect(events.map((e) => e.action)).toEqual(['broker.started', 'auth.login_failed']);
    expect(BigInt(events[1]!.seq)).toBeGreaterThan(BigInt(events[0]!.seq));
  });

  it('is refused UPDATE, DELETE and TRUNCATE by the database itself', async () => {
    await expect(handle.db.query(`update audit_events set actor = 'mallory'`)).rejects.toThrow(/append-only: UPDATE refused/);
    await expect(handle.db.query(`delete from audit_events`)).rejects.toThrow(/append-only: DELETE refused/);
    await expect(handle.db.query(`truncate audit_events`)).rejects.toThrow(/append-only: TRUNCATE refused/);
    const { rows } = await handle.db.query(`select count(*)::int as n, bool_and(actor <> 'mallory') as untouched from audit_events`);
    expect(rows[0]).toEqual({ n: 2, untouched: true });
  });

  it('rolls an event back with the transaction it belongs to', async () => {
    const audit = createAuditLog(handle.db);
    await expect(
      handle.db.transaction(async (tx) => {
        await audit.append({ actor: 'system', action: 'broker.started', details: { version: 'rollback', mode: 'x', leaseSeconds: 30 } }, tx);
        throw new Error('state change failed');
      }),
    ).rejects.toThrow('state change failed');
    const { rows } = await handle.db.query(`select count(*)::int as n from audit_events where details->>'version' = 'rollback'`);
    expect(rows[0].n).toBe(0);
  });

  it('tells of an event once it is committed, never of one rolled back (the security log)', async () => {
    const told: string[] = [];
    const audit = createAuditLog(handle.db, { onCommitted: (row) => told.push(row.details.version as string) });
    const started = (version: string) => ({ actor: 'system', action: 'broker.started' as const, details: { version, mode: 'x', leaseSeconds: 30 } });
    await audit.append(started('alone'));
    expect(told).toEqual(['alone']);
    await handle.db.transaction(async (tx) => {
      await audit.append(started('in-tx'), tx);
      // Inside the savepoint and rolled back with it: not committed, not told.
      await tryInSavepoint(tx, async () => {
        await audit.append(started('in-savepoint'), tx);
        throw new Error('undone');
      });
      expect(told).toEqual(['alone']); // not before the commit
    });
    expect(told).toEqual(['alone', 'in-tx']);
    await expect(
      handle.db.transaction(async (tx) => {
        await audit.append(started('rolled-back'), tx);
        throw new Error('state change failed');
      }),
    ).rejects.toThrow('state change failed');
    expect(told).toEqual(['alone', 'in-tx']);
  });
});
