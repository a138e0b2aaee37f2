// The SSH front door under abuse, on a real broker and the stock OpenSSH client: connections that
// never log in hold a bounded number of places per address (and are cut after the handshake
// window); an unconfirmed link expires and closes the connection, audited; random and truncated
// packets for a bounded time leave the broker up, its memory flat, and a live console working.
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freePort } from '../server/dev/index.js';
import type { TestBroker } from './support/broker.js';
import { apiSession, type ApiSession } from './support/api-session.js';
import { sshClient, startSshDoorBroker, type SshClient } from './support/ssh-client.js';

const PER_ADDRESS = 4;
const LOGIN_SECONDS = 10;
const LOGINS_PER_MINUTE = 4;
const PROMPT = /~ \$ /;
let t: TestBroker;
let alice: ApiSession;
let port: number;
let knownHosts: string;
let brokerStarted = 0;

beforeAll(async () => {
  brokerStarted = Date.now();
  ({ t, port, knownHosts } = await startSshDoorBroker(inject('consoleImage'), {
    SALLYPORT_SSH_MAX_UNAUTHENTICATED_PER_ADDRESS: String(PER_ADDRESS),
    SALLYPORT_SSH_LOGIN_TIMEOUT: `${LOGIN_SECONDS}s`,
    SALLYPORT_LOGINS_PER_MINUTE: String(LOGINS_PER_MINUTE),
  }));
  alice = await apiSession(t, 'alice');
});
afterAll(async () => {
  await t?.close();
});

/** A raw TCP connection to the door: what it was sent first, and when it closed. */
function raw(): Promise<{ socket: Socket; first: Promise<string>; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => undefined);
    const first = new Promise<string>((r) => socket.once('data', (d) => r(d.toString('latin1'))));
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    socket.once('connect', () => resolve({ socket, first, closed }));
    socket.once('error', reject);
  });
}

async function loggedIn(): Promise<SshClient> {
  const c = sshClient(port, 'shell', knownHosts, ['-t']);
  const [, token] = await c.waitFor(/\/ssh\/([A-Za-z0-9_-]{32})/);
  await alice.post(`/api/ssh-logins/${token}/confirm`, {});
  await c.waitFor(PROMPT, 10_000);
  return c;
}

describe('the SSH door under abuse', () => {
  it('holds at most a few connections per address that have not logged in, and frees them when they go', async () => {
    const held = await Promise.all(Array.from({ length: PER_ADDRESS }, () => raw()));
    for (const h of held) expect(await h.first).toMatch(/^SSH-2\.0-Sallyport/);
    const extra = await raw();
    await extra.closed; // closed at once, before a byte
    const firstOrNothing = await Promise.race([extra.first, new Promise<string>((r) => setTimeout(() => r(''), 200))]);
    expect(firstOrNothing).toBe('');
    for (const h of held) h.socket.destroy();
    await Promise.all(held.map((h) => h.closed));
    await new Promise((r) => setTimeout(r, 100));
    const again = await raw();
    expect(await again.first).toMatch(/^SSH-2\.0-Sallyport/);
    again.socket.destroy();
  });

  it('closes a connection whose link nobody confirms when the link expires, and audits it', async () => {
    const c = sshClient(port, 'shell', knownHosts, ['-t']);
    await c.waitFor(/\/ssh\/[A-Za-z0-9_-]{32}/);
    const started = Date.now();
    expect(await c.exited).toBe(255);
    expect((Date.now() - started) / 1000).toBeGreaterThan(LOGIN_SECONDS - 2);
    await expect
      .poll(async () => (await t.broker.db.query(`select details from audit_events where action = 'ssh.login.abandoned' order by seq`)).rows.map((r) => r.details.why))
      .toContain('expired');
  }, 30_000);

  it('stays up with memory flat and a live console working while random and truncated packets arrive', async () => {
    const c = await loggedIn();
    const rss = () => process.memoryUsage().rss / 2 ** 20;
    const before = rss();
    const began = Date.now();
    const deadline = began + 8000;
    let sent = 0;
    while (Date.now() < deadline && sent < 400) {
      const r = await raw().catch(() => undefined);
      if (!r) continue;
      const kind = sent % 4;
      // A valid version line, then: garbage; a packet length far too large; a truncated packet; nothing at all.
      r.socket.write('SSH-2.0-fuzz\r\n');
      if (kind === 0) r.socket.write(randomBytes(1 + (sent % 3000)));
      else if (kind === 1) r.socket.write(Buffer.from([0xff, 0xff, 0xff, 0xf0, 0x04, 0x14]));
      else if (kind === 2) r.socket.write(Buffer.concat([Buffer.from([0, 0, 0x01, 0x00, 0x08, 0x14]), randomBytes(40)]));
      r.socket.end();
      sent++;
      if (sent % 20 === 0) {
        c.type(`echo alive-${sent}\r`);
        await c.waitFor(new RegExp(`alive-${sent}\\r?\\n`), 5000);
      }
      await Promise.race([r.closed, new Promise((res) => setTimeout(res, 200))]);
      r.socket.destroy();
    }
    expect(sent).toBeGreaterThan(40);
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
    c.type('echo still-here\r');
    await c.waitFor(/still-here\r?\n/);
    c.type('exit\r');
    expect(await c.exited).toBe(0);
    // The broker runs in this process: its memory (and the test's) grew little.
    expect(rss() - before).toBeLessThan(64);
    console.log(`ssh fuzz: ${sent} hostile connections in ${((Date.now() - began) / 1000).toFixed(1)}s; rss ${before.toFixed(0)} → ${rss().toFixed(0)} MiB`);
  }, 40_000);

  it('closes a logged-in connection that keeps asking for refused tunnels, so the audit log stays bounded', async () => {
    const before = (await t.broker.db.query(`select count(*)::int as n from audit_events where action = 'ssh.refused'`)).rows[0].n;
    const localPort = await freePort();
    const c = sshClient(port, 'shell', knownHosts, ['-t', '-L', `${localPort}:127.0.0.1:9`]);
    const [, token] = await c.waitFor(/\/ssh\/([A-Za-z0-9_-]{32})/);
    await alice.post(`/api/ssh-logins/${token}/confirm`, {});
    await c.waitFor(PROMPT, 10_000);
    for (let i = 0; i < 40 && c.child.exitCode === null; i++) {
      const probe = connect(localPort, '127.0.0.1');
      probe.on('error', () => undefined);
      await new Promise((r) => probe.once('close', r));
    }
    expect(await c.exited).toBe(255);
    const refusals = async () => (await t.broker.db.query(`select count(*)::int as n from audit_events where action = 'ssh.refused'`)).rows[0].n - before;
    // Audited as they happen (the last ones land just after the close): 32, and no more.
    await expect.poll(refusals).toBe(32);
    await new Promise((r) => setTimeout(r, 300));
    expect(await refusals()).toBe(32);
  });

  it('ends a logged-in connection that opens no session (ssh -N), so it cannot hold a place unrecorded', async () => {
    const c = sshClient(port, 'shell', knownHosts, ['-N']);
    const [, token] = await c.waitFor(/\/ssh\/([A-Za-z0-9_-]{32})/);
    await alice.post(`/api/ssh-logins/${token}/confirm`, {});
    const loggedIn = Date.now();
    expect(await c.exited).toBe(255);
    const seconds = (Date.now() - loggedIn) / 1000;
    expect(seconds).toBeGreaterThan(25);
    expect(seconds).toBeLessThan(40);
  }, 60_000);

  // Last: it spends this broker's SSH login budget for 127.0.0.1.
  it('gives each address a budget of SSH logins a minute, so connecting in a loop cannot fill the database', async () => {
    const issued = async () => (await t.broker.db.query(`select count(*)::int as n from audit_events where action = 'ssh.login.issued'`)).rows[0].n;
    let refusedClient: SshClient | undefined;
    let issuedBefore = 0;
    for (let i = 0; i < LOGINS_PER_MINUTE + 2 && !refusedClient; i++) {
      issuedBefore = await issued();
      const c = sshClient(port, 'shell', knownHosts, ['-t']);
      const shown = await Promise.race([c.waitFor(/\/ssh\/[A-Za-z0-9_-]{32}/).then(() => true), c.exited.then(() => false)]);
      if (shown) c.child.kill();
      else refusedClient = c;
      await c.exited;
    }
    expect(refusedClient).toBeDefined();
    expect(await refusedClient!.exited).toBe(255);
    expect(refusedClient!.output()).toMatch(/Permission denied/);
    // The refused connection wrote nothing; in all, the broker allowed the budget plus what
    // refilled since it started (4 a minute).
    expect(await issued()).toBe(issuedBefore);
    const refilled = Math.ceil(((Date.now() - brokerStarted) / 60_000) * LOGINS_PER_MINUTE);
    expect(issuedBefore).toBeLessThanOrEqual(LOGINS_PER_MINUTE + refilled);
  });
});
