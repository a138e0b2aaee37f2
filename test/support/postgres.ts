// Real PostgreSQL for tests: each test file gets a fresh database cloned from a template that
// global-setup migrated once per run.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, inject } from 'vitest';
import { openDatabase, type Database } from '../../server/db/index.js';

export { ADMIN_URL, adminQuery, databaseUrl } from './pg-admin.js';
import { adminQuery, databaseUrl } from './pg-admin.js';

export interface TestDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

/** A new database; migrated (from the template) unless `empty`. */
export async function freshDatabase(options: { empty?: boolean } = {}): Promise<TestDatabase> {
  const name = `sallyport_t_${randomBytes(6).toString('hex')}`;
  const template = options.empty ? 'template0' : inject('templateDatabase');
  await adminQuery(`create database ${name} template ${template}`);
  return {
    name,
    url: databaseUrl(name),
    drop: () => adminQuery(`drop database if exists ${name} with (force)`),
  };
}

/** A fresh migrated database and an open pool for the enclosing describe block. */
export function useDatabase(): { readonly db: Database } {
  let tdb: TestDatabase | undefined;
  const handle = {} as { db: Database };
  beforeAll(async () => {
    tdb = await freshDatabase();
    handle.db = openDatabase(tdb.url, { poolSize: 2 });
  });
  afterAll(async () => {
    await handle.db?.close();
    await tdb?.drop();
  });
  return handle;
}
