// Rotating the session secret without logging everyone out: a broker on the new secret that still
// accepts the old one (SALLYPORT_SESSION_SECRET_PREVIOUS) serves logins, CSRF tokens and CLI links
// made by a broker still on the old one — as during a rolling restart behind a load balancer, where
// the next request may land on either.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { apiSession } from './support/api-session.js';
import { startServeBeside } from './support/replica.js';

let served: Awaited<ReturnType<typeof startServeBeside>>;

beforeAll(async () => {
  served = await startServeBeside(inject('consoleImage'), { SALLYPORT_SESSION_SECRET: randomBytes(32).toString('hex') }, [], (h) => ({ SALLYPORT_SESSION_SECRET_PREVIOUS: h.config.session.secret }));
}, 120_000);
afterAll(async () => {
  await served?.stop();
});

describe('a session secret rotation', () => {
  it('keeps a login, its CSRF token and a CLI link made on the old secret working on a broker with the new one', async () => {
    const alice = await apiSession(served.h, 'alice');
    const cookie = `sallyport=${alice.browser.cookies(served.h.url).get('sallyport')}`;
    const headers = { cookie, accept: 'application/json' };
    const me = await fetch(`${served.url}/api/me`, { headers });
    expect(me.status).toBe(200);
    expect((await me.json()).user.username).toBe('alice');
    // A state change on the new broker with the CSRF token the old one gave.
    const asked = await fetch(`${served.url}/api/access-requests`, {
      method: 'POST',
      headers: { ...headers, origin: served.h.url, 'content-type': 'application/json', 'x-csrf-token': alice.csrf },
      body: JSON.stringify({ target: 'gated', reason: 'across the rotation', durationSeconds: 600 }),
    });
    expect(asked.status).toBe(201);
    // A command-line login link the old broker made, confirmed on the new one.
    const start = await (await fetch(`${served.h.url}/api/cli-logins`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"client":"rotating"}' })).json();
    const confirm = await fetch(`${served.url}/api/cli-logins/${new URL(start.url).pathname.slice(5)}/confirm`, {
      method: 'POST',
      headers: { ...headers, origin: served.h.url, 'content-type': 'application/json', 'x-csrf-token': alice.csrf },
      body: '{}',
    });
    expect(confirm.status).toBe(200);
  }, 60_000);
});
