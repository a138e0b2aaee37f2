// Benchmark: a console on a fleet node through Sallyport (browser WebSocket → broker → its
// certificate-authenticated SSH connection → the node's sshd, recorded to PostgreSQL) versus a
// stock OpenSSH client connecting straight to the same sshd, in the same run. The client runs in
// its own process for both (bench/terminal-client.ts). Two floors are measured in the same rounds:
// the stock client through a bare TCP relay (socat, in C; and one in Node) on the broker's side —
// what any process in the middle costs before it does any work of its own.
//   keystroke echo — one key, to its echo on screen, 200 keys per round
//   bulk output    — 16 MiB of terminal output
// Run: npx tsx bench/fleet.ts   (as root: it makes a network namespace; needs PostgreSQL, sshd, nft)
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../server/dev/index.js';
import { parsePrivateKeyFile } from '../server/signing/index.js';
import { Browser, startTestBroker } from '../test/support/broker.js';
import { NODE_LOGIN, nodeConfigFiles, startFleetNode } from '../test/support/fleet-node.js';
import { runCli } from '../test/support/process.js';
import { certificateLogin, compareTerminals, scratchBrokerDatabase, startWsSshBridge, terminalClient } from './support.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

/** A bare TCP relay 127.0.0.1:port → the node's sshd, from the broker's address, in its own process. */
async function startRelay(kind: 'socat' | 'node', node: { address: string; brokerAddress: string }): Promise<{ port: number; stop(): void }> {
  const port = await freePort();
  const child: ChildProcess =
    kind === 'socat'
      ? spawn('socat', [`TCP-LISTEN:${port},bind=127.0.0.1,reuseaddr,fork,nodelay`, `TCP:${node.address}:22,bind=${node.brokerAddress},nodelay`], { stdio: 'ignore' })
      : spawn(process.execPath, ['-e', `const net=require('node:net');net.createServer((a)=>{a.setNoDelay(true);const b=net.connect({host:${JSON.stringify(node.address)},port:22,localAddress:${JSON.stringify(node.brokerAddress)},noDelay:true});a.pipe(b);b.pipe(a);a.on('error',()=>b.destroy());b.on('error',()=>a.destroy());}).listen(${port},'127.0.0.1');`], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 300));
  return { port, stop: () => child.kill() };
}

async function main() {
  const caText = (await runCli(['ssh-ca', 'new'], {})).stdout;
  const ca = parsePrivateKeyFile(caText).key;
  const node = await startFleetNode({ files: nodeConfigFiles(caText) });
  try {
    await measure(caText, ca, node);
  } finally {
    await node.stop();
  }
}

async function measure(caText: string, ca: ReturnType<typeof parsePrivateKeyFile>['key'], node: Awaited<ReturnType<typeof startFleetNode>>) {
  const dir = mkdtempSync(join(tmpdir(), 'sallyport-bench-fleet-'));
  const catalog = join(dir, 'catalog.yaml');
  writeFileSync(
    catalog,
    `version: 1
nodes:
  - { name: app-1, address: "${node.address}", hostKey: "${node.hostKey}", login: ${NODE_LOGIN} }
targets:
  - { name: node-shell, description: a shell on the node, runtime: ssh, nodes: [app-1], command: [sh], recordInput: true,
      limits: { maxDuration: 1h, idleTimeout: 15m }, allow: { groups: [developers] } }
`,
  );
  writeFileSync(join(dir, 'known_hosts'), `${node.address} ${node.hostKey}\n`);
  const database = await scratchBrokerDatabase();
  const t = await startTestBroker(
    { SALLYPORT_CATALOG: catalog, SALLYPORT_SSH_CA_KEY: caText, SALLYPORT_LOG_LEVEL: 'warn' },
    { database: { ...database, drop: async () => {} } },
  );
  try {
    const b = new Browser();
    await t.login(b, 'alice');
    const cookie = `sallyport=${b.cookies(t.url).get('sallyport')}`;
    /** A stock OpenSSH login with a fresh broker-style certificate, as the baseline. */
    const sshArgs = (via?: number) =>
      JSON.stringify(['-F', '/dev/null', ...certificateLogin(dir, ca, node, NODE_LOGIN), '-o', `UserKnownHostsFile=${join(dir, 'known_hosts')}`, '-o', 'StrictHostKeyChecking=yes', '-tt',
        ...(via ? ['-p', String(via), '-o', `HostKeyAlias=${node.address}`, `${NODE_LOGIN}@127.0.0.1`] : ['-b', node.brokerAddress, `${NODE_LOGIN}@${node.address}`]), 'sh']);
    const socat = await startRelay('socat', node);
    const relay = await startRelay('node', node);
    const bridge = await startWsSshBridge(caText, node, NODE_LOGIN);
    try {
      await compareTerminals(
        'fleet console (runtime ssh) vs direct OpenSSH to the same sshd',
        ROUNDS,
        { name: 'direct', run: () => terminalClient(['ssh', sshArgs()]) },
        { name: 'broker', run: () => terminalClient(['broker', t.url, cookie, 'node-shell']) },
        [
          { name: 'ssh via a socat relay', run: () => terminalClient(['ssh', sshArgs(socat.port)]) },
          { name: 'ssh via a Node relay', run: () => terminalClient(['ssh', sshArgs(relay.port)]) },
          { name: 'a bare ws → ssh2 bridge', run: () => terminalClient(['broker', bridge.url, 'none', 'bridge']) },
        ],
      );
    } finally {
      socat.stop();
      relay.stop();
      bridge.stop();
    }
  } finally {
    await t.close();
    await database.drop();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
