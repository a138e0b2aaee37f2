// Superuser access to the test PostgreSQL server, usable outside vitest (benchmarks too).
import { userInfo } from 'node:os';
import pg from 'pg';

/** A superuser connection to the test server (CI starts it; see .ci/run). */
export const ADMIN_URL =
  process.env.SALLYPORT_TEST_PG ?? `postgres://${userInfo().username}@localhost/postgres?host=/var/run/postgresql`;

export function databaseUrl(name: string): string {
  const u = new URL(ADMIN_URL.replace(/^postgres(ql)?:/, 'http:'));
  u.pathname = `/${name}`;
  return u.toString().replace(/^http:/, 'postgres:');
}

export async function adminQuery(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: ADMIN_URL });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

