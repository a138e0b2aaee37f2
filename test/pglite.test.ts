// The embedded default: the same broker code on PGlite through its socket server (dev mode's
// database). Migrations, login, the audit trigger and readiness all hold there too.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../server/dev/index.js';
import { Browser, startTestBroker, type TestBroker } from './support/broker.js';

let pg: EmbeddedPostgres;
let t: TestBroker;

beforeAll(async () => {
  pg = await startEmbeddedPostgres(undefined);
  t = await startTestBroker(
    { SALLYPORT_DATABASE_POOL_SIZE: '1' },
    { database: { name: 'pglite', url: pg.url, drop: async () => {} } },
  );
});
afterAll(async () => {
  await t?.close();
  await pg?.close();
});

describe('on PGlite', () => {
  it('is ready with every migration applied', async () => {
    const res = await fetch(`${t.url}/readyz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ready' });
    const { rows } = await t.broker.db.query(`select version() as v`);
    expect(rows[0].v).toMatch(/PostgreSQL/);
  });

  it('logs alice in and shows her targets', async () => {
    const browser = new Browser();
    const r = await t.login(browser, 'alice');
    expect(r.callback.status).toBe(303);
    const me = await browser.request(`${t.url}/api/me`, { headers: { accept: 'application/json' } });
    expect(JSON.parse(me.body).user).toMatchObject({ username: 'alice', roles: ['developer'] });
  });

  it('refuses changes to the audit log', async () => {
    const before = await t.broker.audit.list({});
    expect(before.map((e) => e.action)).toEqual(expect.arrayContaining(['catalog.loaded', 'broker.started', 'auth.login']));
    await expect(t.broker.db.query(`update audit_events set actor = 'mallory'`)).rejects.toThrow(/append-only/);
    await expect(t.broker.db.query(`delete from audit_events`)).rejects.toThrow(/append-only/);
    expect((await t.broker.audit.list({})).length).toBe(before.length);
  });
});
