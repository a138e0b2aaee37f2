// One sign-in a day at the SSH door, with nothing installed: the first `ssh` with a key shows the
// login link; once a browser confirms it, the same key logs the same user straight into the
// console on the next connections — until that browser login ends (logout), or the key is
// revoked on the user's page. A connection that only claims a key (no signature) gets nothing.
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser as Chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { launchChromium, signInAs } from './support/chromium.js';
import { apiSession, type ApiSession } from './support/api-session.js';
import type { TestBroker } from './support/broker.js';
import { sshClient, startSshDoorBroker, type SshClient } from './support/ssh-client.js';

const PROMPT = /~ \$ /;
let t: TestBroker;
let port: number;
let knownHosts: string;
let key: string;
let fingerprint: string;
let chromium: Chromium | undefined;

beforeAll(async () => {
  ({ t, port, knownHosts } = await startSshDoorBroker(inject('consoleImage')));
  key = join(mkdtempSync(join(tmpdir(), 'sallyport-key-')), 'id_ed25519');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'alice@laptop', '-f', key]);
  fingerprint = execFileSync('ssh-keygen', ['-lf', `${key}.pub`], { encoding: 'utf8' }).split(' ')[1]!;
});
afterAll(async () => {
  await chromium?.close();
  await t?.close();
});

async function linkOf(c: SshClient): Promise<string> {
  const [, token] = await c.waitFor(/\/ssh\/([A-Za-z0-9_-]{32})/);
  return token!;
}

/** A console through the door with alice's key; true when it went straight in, with no link. */
async function withKey(): Promise<{ c: SshClient; direct: boolean }> {
  const c = sshClient(port, 'shell', knownHosts, ['-t'], { key });
  const first = await Promise.race([c.waitFor(PROMPT, 15_000).then(() => 'prompt'), c.waitFor(/\/ssh\/[A-Za-z0-9_-]{32}/, 15_000).then(() => 'link')]);
  return { c, direct: first === 'prompt' };
}

async function finish(c: SshClient) {
  c.type('exit\r');
  expect(await c.exited).toBe(0);
}

describe('key login at the SSH door', () => {
  let alice: ApiSession;

  it('remembers a key a browser confirmed, then logs in with it without a browser, shown and audited', async () => {
    alice = await apiSession(t, 'alice');
    const first = await withKey();
    expect(first.direct).toBe(false);
    expect((await alice.post(`/api/ssh-logins/${await linkOf(first.c)}/confirm`, {})).status).toBe(200);
    await first.c.waitFor(PROMPT);
    await finish(first.c);

    const second = await withKey();
    expect(second.direct).toBe(true);
    second.c.type('echo "as-$(id -u)-""again"\r');
    await second.c.waitFor(/as-1000-again/);
    await finish(second.c);

    const keys = (await alice.get('/api/me/ssh-keys')).body.keys as Array<{ id: string; fingerprint: string; lastUsedAt: string | null }>;
    expect(keys).toHaveLength(1);
    expect(keys[0]).toMatchObject({ fingerprint, lastUsedAt: expect.any(String) });
    const events = (await t.broker.db.query(`select action, details from audit_events where action like 'ssh.key.%' order by seq`)).rows;
    expect(events.map((e) => e.action)).toEqual(['ssh.key.remembered', 'ssh.key.login']);
    expect(events[1].details).toMatchObject({ username: 'alice', fingerprint, target: 'shell' });
    const sessions = (await t.broker.db.query(`select count(*)::int as n from console_sessions s join users u on u.id = s.user_id where via = 'ssh' and u.username = 'alice'`)).rows[0].n;
    expect(sessions).toBe(2);
  }, 90_000);

  it('asks for the browser again once the key is revoked, or the login that confirmed it ends', async () => {
    const [{ id }] = (await alice.get('/api/me/ssh-keys')).body.keys;
    // Someone else may not revoke alice's key (an admin may).
    const bob = await apiSession(t, 'bob');
    expect((await bob.post(`/api/ssh-keys/${id}/revoke`, {})).status).toBe(404);
    expect((await alice.post(`/api/ssh-keys/${id}/revoke`, {})).status).toBe(200);
    const afterRevoke = await withKey();
    expect(afterRevoke.direct).toBe(false);
    // Confirmed again: remembered again; then alice logs out of that browser.
    expect((await alice.post(`/api/ssh-logins/${await linkOf(afterRevoke.c)}/confirm`, {})).status).toBe(200);
    await afterRevoke.c.waitFor(PROMPT);
    await finish(afterRevoke.c);
    expect((await withKey().then(async (w) => (await finish(w.c), w.direct)))).toBe(true);
    await alice.browser.request(`${t.url}/auth/logout`, { form: { csrf: alice.csrf }, headers: { origin: t.url } });
    const afterLogout = await withKey();
    expect(afterLogout.direct).toBe(false);
    afterLogout.c.child.kill();
    expect((await t.broker.db.query(`select count(*)::int as n from audit_events where action = 'ssh.key.revoked'`)).rows[0].n).toBe(1);
  }, 120_000);

  it('shows the key on the user\'s page in a browser, where Revoke ends it', async () => {
    const c = await withKey();
    expect(c.direct).toBe(false);
    chromium = await launchChromium();
    const page = await (await chromium.newContext({ viewport: { width: 1100, height: 700 } })).newPage();
    page.setDefaultTimeout(10_000);
    await page.goto(`${t.url}/`);
    await signInAs(page, t.users, 'alice');
    // Confirmed from this browser: the key belongs to this login.
    await page.goto(`${t.url}/ssh/${await linkOf(c.c)}`);
    await page.click('#confirm-ssh-login');
    await c.c.waitFor(PROMPT);
    await finish(c.c);
    await page.goto(`${t.url}/`);
    await page.waitForSelector('#ssh-keys .ssh-key-fingerprint');
    expect(await page.textContent('#ssh-keys .ssh-key-fingerprint')).toBe(fingerprint);
    await page.click('#ssh-keys .revoke-ssh-key');
    await page.waitForSelector('#ssh-keys .empty');
    expect((await withKey().then((w) => (w.c.child.kill(), w.direct)))).toBe(false);
  }, 90_000);
});
