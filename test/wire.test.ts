// What keeps a key's echo at wire speed through the SSH door to a fleet node, checked without a
// clock (the figures are bench/paths.ts's): every TCP socket the door and the fleet runtime hold
// has TCP_NODELAY on, as the kernel reports it (a capture showed one echo leaving the door in two
// writes, the second held by Nagle for the client's delayed ACK: 40 ms a key); and each key
// typed costs one SSH packet each way — one to the node, one echo to the client — for a shell on
// the node and for a container on the node's engine over SSH.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { apiSession, type ApiSession } from './support/api-session.js';
import type { TestBroker } from './support/broker.js';
import { NODE_LOGIN, nodeConfigFiles, startFleetNode, type FleetNode } from './support/fleet-node.js';
import { runCli } from './support/process.js';
import { noDelayOf, tcpSocketsOf } from './support/sockets.js';
import { sshClient, startSshDoorBroker, type SshClient } from './support/ssh-client.js';

let t: TestBroker;
let node: FleetNode;
let alice: ApiSession;
let port: number;
let knownHosts: string;

beforeAll(async () => {
  const caText = (await runCli(['ssh-ca', 'new'], {})).stdout;
  node = await startFleetNode({ files: nodeConfigFiles(caText) });
  const imageId = execFileSync('docker', ['image', 'inspect', '-f', '{{.Id}}', inject('consoleImage')], { encoding: 'utf8' }).trim();
  const catalog = join(mkdtempSync(join(tmpdir(), 'sallyport-wire-')), 'catalog.yaml');
  writeFileSync(
    catalog,
    `version: 1
nodes:
  - { name: app-1, address: "${node.address}", hostKey: "${node.hostKey}", login: ${NODE_LOGIN}, sshdConfig: "${node.sshdConfig}" }
targets:
  - { name: node-shell, description: a shell on the node, runtime: ssh, nodes: [app-1], command: [sh],
      limits: { maxDuration: 1h, idleTimeout: 15m }, allow: { groups: [developers] } }
  - { name: fleet-shell, description: a container on the node, runtime: docker, nodes: [app-1], image: "${imageId}", command: [sh],
      user: "1000:1000", limits: { memory: 64m, cpus: 0.5, pids: 32, maxDuration: 1h, idleTimeout: 15m }, allow: { groups: [developers] } }
`,
  );
  ({ t, port, knownHosts } = await startSshDoorBroker(inject('consoleImage'), { SALLYPORT_CATALOG: catalog, SALLYPORT_SSH_CA_KEY: caText }));
  alice = await apiSession(t, 'alice');
});
afterAll(async () => {
  await t?.close();
  await node?.stop();
});

async function openThroughDoor(target: string, prompt: RegExp): Promise<SshClient> {
  const c = sshClient(port, target, knownHosts, ['-t']);
  const [, token] = await c.waitFor(/\/ssh\/([A-Za-z0-9_-]{32})/);
  expect((await alice.post(`/api/ssh-logins/${token}/confirm`, {})).status).toBe(200);
  await c.waitFor(prompt, 20_000);
  return c;
}

/** SSH packets written on the door's sockets and on the node's while `fn` runs (this process holds the broker). */
async function countWrites(fn: () => Promise<void>): Promise<{ door: number; node: number }> {
  const counts = { door: 0, node: 0 };
  const write = Socket.prototype.write;
  Socket.prototype.write = function (this: Socket, ...args: unknown[]) {
    if (this.localPort === port) counts.door++;
    else if (this.remoteAddress === node.address && this.remotePort === 22) counts.node++;
    return (write as (...a: unknown[]) => boolean).apply(this, args);
  } as typeof write;
  try {
    await fn();
  } finally {
    Socket.prototype.write = write;
  }
  return counts;
}

describe.each([
  ['a shell on the node (runtime ssh)', 'node-shell', /\$ $/m],
  ['a container on the node’s engine, over SSH', 'fleet-shell', /~ \$ /],
])('a key typed through the SSH door to %s', (_name, target, prompt) => {
  it('travels on sockets with TCP_NODELAY, one SSH packet each way', async () => {
    const c = await openThroughDoor(target, prompt);
    const sockets = tcpSocketsOf(process.pid);
    const door = sockets.filter((s) => s.local.port === port);
    const toNode = sockets.filter((s) => s.remote.address === node.address && s.remote.port === 22);
    expect(door.length, 'the door holds the client connection').toBeGreaterThan(0);
    expect(toNode.length, 'the fleet runtime holds a connection to the node').toBeGreaterThan(0);
    const noDelay = await noDelayOf(process.pid, [...door, ...toNode].map((s) => s.fd));
    expect([...noDelay.entries()].filter(([, on]) => on !== 1), 'descriptors without TCP_NODELAY').toEqual([]);

    // Keys one at a time, each awaited on screen (as a person types), counted on both sockets.
    const keys = 'wirespeedkeys';
    let typed = '';
    const writes = await countWrites(async () => {
      for (const k of keys) {
        typed += k;
        c.type(k);
        await c.waitFor(new RegExp(`${typed}$`));
      }
    });
    // A keepalive or a window adjustment may fall inside the count; a second write per key may not.
    expect(writes.node, JSON.stringify(writes)).toBeGreaterThanOrEqual(keys.length);
    expect(writes.node, JSON.stringify(writes)).toBeLessThanOrEqual(keys.length + 2);
    expect(writes.door, JSON.stringify(writes)).toBeGreaterThanOrEqual(keys.length);
    expect(writes.door, JSON.stringify(writes)).toBeLessThanOrEqual(keys.length + 2);
    c.type('\x15exit\r');
    await c.exited;
  });
});
