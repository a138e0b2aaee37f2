// The least-privilege deployment docs/operations.md describes, on real PostgreSQL roles: an owner
// role migrates, the grants in the docs (run as written) give an application role what a broker
// needs, and a broker serving as that role with SALLYPORT_AUTO_MIGRATE=false logs users in, runs and
// records a console and signs checkpoints — while it cannot change an audit event. Serving as that
// role without the setting names the step and the fix instead of "permission denied".
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { PACKAGE_ROOT } from '../server/paths.js';
import { Browser, startTestBroker } from './support/broker.js';
import { connectConsole, PROMPT } from './support/console-client.js';
import { writeConsoleCatalog } from './support/console-catalog.js';
import { adminQuery } from './support/postgres.js';
import { runCli } from './support/process.js';

const id = randomBytes(4).toString('hex');
const owner = `sp_owner_${id}`;
const app = `sp_app_${id}`;
const dbName = `sallyport_roles_${id}`;
const url = (role: string) => `postgres://${role}:pw-${id}@127.0.0.1/${dbName}`;
const cleanup: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const c of cleanup.reverse()) await c().catch(() => undefined);
});

describe('an owner role and an application role', () => {
  it('migrate as the owner; serve as the application role with the documented grants', async () => {
    await adminQuery(`create role ${owner} login password 'pw-${id}'`);
    await adminQuery(`create role ${app} login password 'pw-${id}'`);
    cleanup.push(async () => {
      await adminQuery(`drop database if exists ${dbName} with (force)`);
      await adminQuery(`drop role if exists ${app}`);
      await adminQuery(`drop role if exists ${owner}`);
    });
    await adminQuery(`create database ${dbName} owner ${owner} template template0`);

    // Serving as the application role on an empty database: the step and the fix, by name.
    const catalog = writeConsoleCatalog(inject('consoleImage'));
    const refused = await startTestBroker({ SALLYPORT_CATALOG: catalog, CONSOLE_GREETING: 'x' }, { database: { name: dbName, url: url(app), drop: async () => undefined } }).catch((err: Error) => err);
    expect(String(refused)).toMatch(/migrating the schema needs its owner's role, and this one may not \(permission denied for schema public\): run `sallyport migrate` with the owner's DATABASE_URL/);

    const migrated = await runCli(['migrate'], { DATABASE_URL: url(owner) });
    expect(migrated.code, migrated.stderr).toBe(0);
    // The grants, exactly as docs/operations.md writes them, run by the owner.
    const docs = readFileSync(join(PACKAGE_ROOT, 'docs', 'operations.md'), 'utf8');
    const grants = /\*\*Two roles\.\*\*[\s\S]*?```sql\n([\s\S]*?)```/.exec(docs)![1]!.replaceAll('sallyport_app', app);
    execFileSync('psql', ['-q', '-v', 'ON_ERROR_STOP=1', '-d', url(owner), '-c', grants]);

    const t = await startTestBroker({ SALLYPORT_CATALOG: catalog, CONSOLE_GREETING: 'x', SALLYPORT_AUTO_MIGRATE: 'false' }, { database: { name: dbName, url: url(app), drop: async () => undefined } });
    cleanup.push(() => t.close());
    const b = new Browser();
    await t.login(b, 'alice');
    const c = await connectConsole(t.url, 'shell', { cookie: `sallyport=${b.cookies(t.url).get('sallyport')}` });
    await c.waitFor(PROMPT);
    const sessionId = c.sessionId();
    c.type('echo "as-the-""app-role"; exit\n');
    await c.closed;
    await expect.poll(async () => (await t.broker.db.query(`select 1 from audit_checkpoints where recording_session = $1`, [sessionId])).rowCount, { timeout: 15_000 }).toBe(1);
    // The application role cannot change the record.
    const client = new pg.Client({ connectionString: url(app) });
    await client.connect();
    try {
      await expect(client.query(`update audit_events set actor = 'mallory' where seq = 1`)).rejects.toThrow(/permission denied for table audit_events/);
      await expect(client.query(`alter table audit_events disable trigger user`)).rejects.toThrow(/must be owner of table audit_events/);
    } finally {
      await client.end();
    }
    expect((await runCli(['migrate'], { DATABASE_URL: url(owner) })).stdout).toBe('database is up to date\n');
    // A release whose migration the owner has not run yet: the application-role broker says so.
    const pgc = new pg.Client({ connectionString: url(owner) });
    await pgc.connect();
    await pgc.query(`delete from schema_migrations where version = 26`);
    await pgc.end();
    const behind = await startTestBroker({ SALLYPORT_CATALOG: catalog, CONSOLE_GREETING: 'x', SALLYPORT_AUTO_MIGRATE: 'false' }, { database: { name: dbName, url: url(app), drop: async () => undefined } }).catch((err: Error) => err);
    expect(String(behind)).toMatch(/the database lacks migrations 026_deployment: run `sallyport migrate` with the schema owner's DATABASE_URL first/);
  }, 120_000);
});
