// Starting a login needs no account and writes a row: a client address gets a budget of logins
// a minute, and the logins in flight are capped across brokers (they also expire in 10 min), so
// unauthenticated requests cannot grow a table without bound.
import { afterEach, describe, expect, it } from 'vitest';
import { startTestBroker, type TestBroker } from './support/broker.js';

let t: TestBroker | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

const start = (url: string) => fetch(`${url}/auth/login`, { redirect: 'manual', headers: { accept: 'application/json' } });
const pending = async (t: TestBroker) => (await t.broker.db.query(`select count(*)::int as n from oidc_logins`)).rows[0].n as number;

describe('login limits', () => {
  it('give each client address a budget of logins a minute, naming it when spent', async () => {
    t = await startTestBroker({ SALLYPORT_LOGINS_PER_MINUTE: '5' });
    for (let i = 0; i < 5; i++) expect((await start(t.url)).status).toBe(303);
    const refused = await start(t.url);
    expect(refused.status).toBe(429);
    expect((await refused.json()).error).toMatchObject({ code: 'LIMIT_REACHED', message: expect.stringMatching(/at most 5 a minute \(SALLYPORT_LOGINS_PER_MINUTE\)/) });
    expect(await pending(t)).toBe(5);
  });

  it('cap the logins in flight, so the table stays bounded', async () => {
    t = await startTestBroker({ SALLYPORT_LOGINS_PER_MINUTE: '1000', SALLYPORT_MAX_PENDING_LOGINS: '10' });
    const statuses = [];
    for (let i = 0; i < 25; i++) statuses.push((await start(t.url)).status);
    expect(statuses.filter((s) => s === 303)).toHaveLength(10);
    expect(statuses.slice(10).every((s) => s === 429)).toBe(true);
    expect(await pending(t)).toBe(10);
  });
});
