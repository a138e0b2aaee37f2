// Forward-only numbered migrations (migrations/NNN_name.sql). Each runs in its own transaction
// while the runner holds a session advisory lock, so two brokers starting at once never both
// migrate; an applied file whose content changed is refused rather than silently skipped, and a
// database migrated by a newer release (a migration this build does not have) is refused too.
// migrations/manifest.json records every migration's checksum once it is on main: a test fails
// when a file changes or disappears (a released migration never changes; add a new one).
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SallyportError } from '../errors.js';
import type { Database } from './database.js';

/**
 * Applied migrations whose file was later replaced, before the rule that a migration never
 * changes was enforced: the version, the name and checksum it was applied with, and the
 * migration that brings such a database to the same schema (025 drops 020's former column).
 */
const SUPERSEDED: ReadonlyArray<{ version: number; name: string; checksum: string; reconciledBy: string }> = [
  { version: 20, name: 'session_ended_by', checksum: '1348f59e61c88ece540408eb84cbc7965a34d509adc693ab08a1917569c37849', reconciledBy: '025_superseded_ended_by' },
];

/** Arbitrary constant naming the lock; "sallyprt" in ASCII. */
const MIGRATION_LOCK = 0x73616c6c79707274n;

export interface Migration {
  version: number;
  name: string;
  /** The file name without .sql, e.g. 001_foundation; what messages show. */
  id: string;
  sql: string;
  checksum: string;
}

export function readMigrations(dir: string): Migration[] {
  const files = readdirSync(dir).filter((f) => f.endsWith('.sql')).sort();
  const seen = new Set<number>();
  return files.map((file) => {
    const m = /^(\d{3,})_([a-z0-9_]+)\.sql$/.exec(file);
    if (!m) throw new SallyportError('MIGRATION_FAILED', `migration file name "${file}" must look like 001_name.sql`);
    const version = Number(m[1]);
    if (seen.has(version)) throw new SallyportError('MIGRATION_FAILED', `two migrations share number ${version}`);
    seen.add(version);
    const sql = readFileSync(join(dir, file), 'utf8');
    return { version, name: m[2]!, id: `${m[1]}_${m[2]}`, sql, checksum: createHash('sha256').update(sql).digest('hex') };
  });
}

/**
 * Read-only: that the database is exactly at this build's schema, for a broker running as an
 * application role that may not create or alter tables. Names what to do when it is not.
 */
export async function checkSchema(db: Database, dir: string): Promise<void> {
  const migrations = readMigrations(dir);
  const exists = await db.query<{ t: string | null }>(`select to_regclass('schema_migrations')::text as t`);
  const applied = exists.rows[0]?.t ? (await db.query<{ version: number; name: string }>('select version, name from schema_migrations order by version')).rows : [];
  const known = new Set(migrations.map((m) => m.version));
  const newer = applied.filter((a) => !known.has(a.version));
  if (newer.length) {
    const n = newer.at(-1)!;
    throw new SallyportError('MIGRATION_FAILED', `the database is at migration ${String(n.version).padStart(3, '0')}_${n.name}, newer than this broker knows (up to ${migrations.at(-1)?.id ?? 'none'}); it was migrated by a newer Sallyport: run that version (or newer) against it`);
  }
  const have = new Set(applied.map((a) => a.version));
  const pending = migrations.filter((m) => !have.has(m.version));
  if (pending.length) {
    throw new SallyportError(
      'MIGRATION_FAILED',
      `the database lacks migrations ${pending.map((m) => m.id).join(', ')}: run \`sallyport migrate\` with the schema owner's DATABASE_URL first (SALLYPORT_AUTO_MIGRATE=false: this broker only checks)`,
    );
  }
}

/** Applies what is missing; returns the versions it applied (empty when up to date). */
export async function migrate(db: Database, dir: string): Promise<number[]> {
  try {
    return await applyMigrations(db, dir);
  } catch (err) {
    // A role that may not create tables (the application's, as the docs advise): say which step
    // needs which role, rather than PostgreSQL's "permission denied for schema public".
    const code = (err as { code?: string; cause?: { code?: string } }).code ?? (err as { cause?: { code?: string } }).cause?.code;
    if (code === '42501') {
      throw new SallyportError(
        'MIGRATION_FAILED',
        `migrating the schema needs its owner's role, and this one may not (${(err as Error).message.split('\n')[0]}): run \`sallyport migrate\` with the owner's DATABASE_URL, and start brokers that use an application role with SALLYPORT_AUTO_MIGRATE=false`,
        { cause: err },
      );
    }
    throw err;
  }
}

async function applyMigrations(db: Database, dir: string): Promise<number[]> {
  const migrations = readMigrations(dir);
  const client = await db.pool.connect();
  const applied: number[] = [];
  try {
    await client.query('select pg_advisory_lock($1)', [MIGRATION_LOCK.toString()]);
    try {
      await client.query(`
        create table if not exists schema_migrations (
          version     integer     primary key,
          name        text        not null,
          checksum    text        not null,
          applied_at  timestamptz not null default now()
        )`);
      const done = new Map(
        (await client.query<{ version: number; checksum: string }>('select version, checksum from schema_migrations')).rows.map(
          (r) => [r.version, r.checksum],
        ),
      );
      // A database an newer release migrated: this broker does not know its tables' meaning
      // (a rollback, or a broker left behind in a rolling upgrade). Refused, never run half-aware.
      const known = new Set(migrations.map((m) => m.version));
      const unknown = [...done.keys()].filter((v) => !known.has(v)).sort((a, b) => a - b);
      if (unknown.length > 0) {
        const newest = (await client.query<{ version: number; name: string }>('select version, name from schema_migrations order by version desc limit 1')).rows[0]!;
        const mine = migrations.at(-1);
        throw new SallyportError(
          'MIGRATION_FAILED',
          `the database is at migration ${String(newest.version).padStart(3, '0')}_${newest.name}, newer than this broker knows (up to ${mine?.id ?? 'none'}); ` +
            `it was migrated by a newer Sallyport: run that version (or newer) against it, or restore a backup taken before the upgrade to roll back`,
        );
      }
      for (const m of migrations) {
        const previous = done.get(m.version);
        if (previous !== undefined) {
          if (previous !== m.checksum && !SUPERSEDED.some((x) => x.version === m.version && x.checksum === previous)) {
            throw new SallyportError(
              'MIGRATION_FAILED',
              `migration ${m.id} was changed after it was applied; migrations are forward-only, add a new one`,
            );
          }
          continue;
        }
        try {
          await client.query('begin');
          await client.query(m.sql);
          await client.query('insert into schema_migrations (version, name, checksum) values ($1, $2, $3)', [
            m.version,
            m.name,
            m.checksum,
          ]);
          await client.query('commit');
        } catch (err) {
          await client.query('rollback').catch(() => {});
          throw new SallyportError('MIGRATION_FAILED', `migration ${m.id} failed: ${(err as Error).message}`, {
            cause: err,
          });
        }
        applied.push(m.version);
      }
    } finally {
      await client.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK.toString()]).catch(() => {});
    }
  } finally {
    client.release();
  }
  return applied;
}

/**
 * Which of `wanted` (the versions this build ships; read the files once, not per call) are not
 * applied; empty means the schema is current.
 */
export async function pendingMigrations(db: Database, wanted: readonly number[]): Promise<number[]> {
  const exists = await db.query<{ t: string | null }>(`select to_regclass('schema_migrations')::text as t`);
  if (!exists.rows[0]?.t) return [...wanted];
  const have = new Set((await db.query<{ version: number }>('select version from schema_migrations')).rows.map((r) => r.version));
  return wanted.filter((v) => !have.has(v));
}
