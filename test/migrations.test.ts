// Released means released: every migration on main is in migrations/manifest.json with its
// checksum and never changes (a changed or removed one fails here, naming it); every release in
// migrations/releases.json shipped exactly those files; a database migrated by a newer release is
// refused with what to do; the one migration rewritten before the rule (020) is accepted in its
// earlier form and reconciled.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { migrate, openDatabase } from '../server/db/index.js';
import { MIGRATIONS_DIR, PACKAGE_ROOT } from '../server/paths.js';
import { freshDatabase } from './support/postgres.js';

const manifest = JSON.parse(readFileSync(join(MIGRATIONS_DIR, 'manifest.json'), 'utf8')) as { migrations: Array<{ file: string; sha256: string }> };
const releases = JSON.parse(readFileSync(join(MIGRATIONS_DIR, 'releases.json'), 'utf8')) as { releases: Array<{ version: string; commit: string; lastMigration: string }> };
const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

describe('migrations', () => {
  it('are all in the manifest, unchanged, in order; none was removed', () => {
    const files = readdirSync(MIGRATIONS_DIR).filter((f) => f.endsWith('.sql')).sort();
    const listed = manifest.migrations.map((m) => m.file);
    expect(listed, 'the manifest lists every migration file, in order (add a new one at the end)').toEqual(files);
    for (const m of manifest.migrations) {
      expect(sha256(readFileSync(join(MIGRATIONS_DIR, m.file))), `${m.file} changed after it landed: add a new migration instead`).toBe(m.sha256);
    }
  });

  it('are what each release shipped, and the package version is past the last release', () => {
    for (const r of releases.releases) {
      const tree = execFileSync('git', ['ls-tree', '--name-only', `${r.commit}:migrations`], { cwd: PACKAGE_ROOT, encoding: 'utf8' }).split('\n').filter((f) => f.endsWith('.sql'));
      expect(tree.at(-1), `release ${r.version}'s last migration`).toBe(`${r.lastMigration}.sql`);
      for (const f of tree) {
        const released = execFileSync('git', ['show', `${r.commit}:migrations/${f}`], { cwd: PACKAGE_ROOT });
        expect(manifest.migrations.find((m) => m.file === f)?.sha256, `${f} as released in ${r.version}`).toBe(sha256(released));
      }
    }
    const version = (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    const newest = releases.releases.at(-1)!.version;
    const n = (v: string) => v.split('.').map(Number).reduce((a, x) => a * 1000 + x, 0);
    expect(n(version), `package.json ${version} vs the last release ${newest}`).toBeGreaterThanOrEqual(n(newest));
    // The broker image compose builds carries the same version, and the CHANGELOG has its entry.
    expect(readFileSync(join(PACKAGE_ROOT, 'docker-compose.yml'), 'utf8')).toContain(`image: sallyport:${version}\n`);
    expect(readFileSync(join(PACKAGE_ROOT, 'CHANGELOG.md'), 'utf8')).toMatch(new RegExp(`^## \\[(Unreleased\\] — )?${version.replace(/\./g, '\\.')}\\b[^\\n]*\\n[\\s\\S]*?^### Upgrading to ${version.replace(/\./g, '\\.')}$`, 'm'));
  });

  it('refuse a database a newer release migrated, saying what to do', async () => {
    const tdb = await freshDatabase();
    const db = openDatabase(tdb.url, { poolSize: 1 });
    try {
      await db.query(`insert into schema_migrations (version, name, checksum) values (999, 'from_the_future', 'x')`);
      await expect(migrate(db, MIGRATIONS_DIR)).rejects.toThrow(
        /the database is at migration 999_from_the_future, newer than this broker knows \(up to \d{3}_[a-z_]+\); it was migrated by a newer Sallyport: run that version \(or newer\)/,
      );
    } finally {
      await db.close();
      await tdb.drop();
    }
  });

  it('accept 020 as it was first applied, and bring that database to the same schema', async () => {
    const tdb = await freshDatabase();
    const db = openDatabase(tdb.url, { poolSize: 1 });
    try {
      const earlier = execFileSync('git', ['show', 'f76d88c:migrations/020_session_ended_by.sql'], { cwd: PACKAGE_ROOT });
      // A database made before 020 was rewritten: its column, and 020 recorded as it was then.
      await db.query(`alter table console_sessions add column ended_by text`);
      await db.query(`update schema_migrations set name = 'session_ended_by', checksum = $1 where version = 20`, [sha256(earlier)]);
      await db.query(`delete from schema_migrations where version = 25`);
      expect(await migrate(db, MIGRATIONS_DIR)).toEqual([25]);
      expect((await db.query(`select 1 from information_schema.columns where table_name = 'console_sessions' and column_name = 'ended_by'`)).rowCount).toBe(0);
      // Any other change to an applied migration is still refused.
      await db.query(`update schema_migrations set checksum = 'changed' where version = 7`);
      await expect(migrate(db, MIGRATIONS_DIR)).rejects.toThrow(/migration 007_audit_chain was changed after it was applied/);
    } finally {
      await db.close();
      await tdb.drop();
    }
  });
});
