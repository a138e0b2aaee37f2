// The SSH door's places for connections that have not logged in, against a client that would
// hold them: one `none` authentication request and then silence is cut at the handshake window
// (it once bought the whole login deadline); when every place is taken, the oldest connection
// not yet shown a link, of the address holding the most, makes room for a newcomer from
// elsewhere (it once refused everyone); and an IPv6 /64 counts as one address.
import { connect, type Socket } from 'node:net';
import ssh2 from 'ssh2';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { addressKey } from '../server/ssh/door.js';
import type { TestBroker } from './support/broker.js';
import { startSshDoorBroker } from './support/ssh-client.js';

const HANDSHAKE_SECONDS = 3;
let t: TestBroker;
let port: number;

beforeAll(async () => {
  ({ t, port } = await startSshDoorBroker(inject('consoleImage'), {
    SALLYPORT_SSH_MAX_UNAUTHENTICATED_PER_ADDRESS: '4',
    SALLYPORT_SSH_MAX_UNAUTHENTICATED: '6',
    SALLYPORT_SSH_HANDSHAKE_TIMEOUT: `${HANDSHAKE_SECONDS}s`,
    SALLYPORT_SSH_LOGIN_TIMEOUT: '60s',
  }));
});
afterAll(async () => {
  await t?.close();
});

/** A raw TCP connection from a given loopback address: its first bytes, and when it closed. */
function raw(from: string): Promise<{ socket: Socket; first: Promise<string>; closed: Promise<number> }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1', localAddress: from });
    socket.on('error', () => undefined);
    const first = new Promise<string>((r) => socket.once('data', (d) => r(d.toString('latin1'))));
    const closed = new Promise<number>((r) => socket.once('close', () => r(Date.now())));
    socket.once('connect', () => resolve({ socket, first, closed }));
    socket.once('error', reject);
  });
}

describe('connections that have not logged in', () => {
  it('one `none` request and then silence is cut at the handshake window, not held for the login deadline', async () => {
    const client = new ssh2.Client();
    let asked = 0;
    const started = Date.now();
    const closed = new Promise<number>((resolve) => client.on('close', () => resolve(Date.now())));
    client.on('error', () => undefined);
    client.connect({
      host: '127.0.0.1',
      port,
      username: 'shell',
      hostVerifier: () => true,
      // Asks once with `none`, then never answers the door again.
      authHandler: (_methods: unknown, _partial: unknown, next: (m: unknown) => void) => {
        if (asked++ === 0) next('none');
      },
    } as ssh2.ConnectConfig);
    const at = await closed;
    expect(asked).toBeGreaterThanOrEqual(2); // the door answered the `none` and the client went quiet
    expect((at - started) / 1000).toBeLessThan(HANDSHAKE_SECONDS + 5);
  }, 30_000);

  it('when every place is taken, the oldest unlinked connection of the address holding the most makes room', async () => {
    const a = [];
    for (let i = 0; i < 4; i++) a.push(await raw('127.0.0.2'));
    const b = [await raw('127.0.0.3'), await raw('127.0.0.3')];
    for (const c of [...a, ...b]) expect(await c.first).toMatch(/^SSH-2\.0-Sallyport/);
    // Full (6 of 6). A newcomer from elsewhere gets in; 127.0.0.2's oldest goes.
    const newcomer = await raw('127.0.0.4');
    expect(await Promise.race([newcomer.first, new Promise<string>((r) => setTimeout(() => r('refused'), 2000))])).toMatch(/^SSH-2\.0-Sallyport/);
    const firstClosed = await Promise.race([a[0]!.closed.then(() => 'a0'), new Promise<string>((r) => setTimeout(() => r('none'), 2000))]);
    expect(firstClosed).toBe('a0');
    for (const c of [...a.slice(1), ...b]) expect(c.socket.destroyed, 'the others stay').toBe(false);
    for (const c of [...a, ...b, newcomer]) c.socket.destroy();
  });

  it('counts an IPv6 /64 as one address, and an IPv4-mapped address as the IPv4 one', () => {
    expect(addressKey('2001:db8:1:2:3::1')).toBe(addressKey('2001:db8:1:2:ffff:ffff:ffff:9'));
    expect(addressKey('2001:db8:1:2::1')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8:1:3::1')).not.toBe(addressKey('2001:db8:1:2::1'));
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
    expect(addressKey('::ffff:10.1.2.3')).toBe('10.1.2.3');
    expect(addressKey('10.1.2.3')).toBe('10.1.2.3');
  });
});
