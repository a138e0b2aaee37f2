// The SSH door's in-terminal approval on dev mode's database: PGlite through its socket server,
// one connection in the pool (as `sallyport dev` runs it). A user found it failing right after
// the browser confirmation with "the database is unreachable". The whole terminal flow: confirm
// the login, type a reason and a duration, an approver approves in the browser, the console starts.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../server/dev/index.js';
import { apiSession, type ApiSession } from './support/api-session.js';
import type { TestBroker } from './support/broker.js';
import { sshClient, startSshDoorBroker } from './support/ssh-client.js';

let pg: EmbeddedPostgres;
let t: TestBroker;
let port: number;
let knownHosts: string;
let alice: ApiSession, bob: ApiSession;

beforeAll(async () => {
  pg = await startEmbeddedPostgres(undefined);
  ({ t, port, knownHosts } = await startSshDoorBroker(inject('consoleImage'), { SALLYPORT_DATABASE_POOL_SIZE: '1' }, { database: { name: 'pglite', url: pg.url, drop: async () => {} } }));
  [alice, bob] = [await apiSession(t, 'alice'), await apiSession(t, 'bob')];
}, 120_000);
afterAll(async () => {
  await t?.close();
  await pg?.close();
});

describe('the SSH door on dev mode\'s database', () => {
  it('asks for approval in the terminal, waits for the browser, and opens the console', async () => {
    const c = sshClient(port, 'gated', knownHosts, ['-t']);
    const [, token] = await c.waitFor(/\/ssh\/([A-Za-z0-9_-]{32})/);
    expect((await alice.post(`/api/ssh-logins/${token}/confirm`, {})).status).toBe(200);
    await c.waitFor(/Reason \(Enter to send, Ctrl-C to cancel\): $/, 20_000);
    c.type('look at invoice 4711\r');
    await c.waitFor(/For how many minutes \(at most \d+\) \[\d+\]: $/);
    c.type('15\r');
    const [, id] = await c.waitFor(/\/access\/([0-9a-f-]{36})/, 20_000);
    await c.waitFor(/Waiting for a decision/);
    expect((await bob.post(`/api/access-requests/${id}/decision`, { decision: 'approve', comment: 'ok' })).status).toBe(200);
    await c.waitFor(/~ \$ /, 20_000);
    c.type('echo "dev-""door-ok"\r');
    await c.waitFor(/dev-door-ok/);
    c.type('exit\r');
    expect(await c.exited).toBe(0);
    expect(c.output()).not.toMatch(/unreachable/);
  }, 90_000);
});
