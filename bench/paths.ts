// Benchmark: every front door × runtime pair, against what people use instead, in one run of
// interleaved rounds, each client in its own process (bench/terminal-client.ts):
//   front doors  — the browser's console WebSocket, and a stock `ssh` through the SSH door
//   runtimes     — a local Docker container; a fleet node's own shell (`runtime: ssh`); a
//                  container on the fleet node's engine, over SSH (docker-over-ssh)
//   baselines    — stock `ssh` straight to the node's sshd; the same container driven straight
//                  over the Engine API; stock `ssh -J` through an OpenSSH bastion on this machine
//                  (what Sallyport replaces)
//   floors       — a bare WebSocket → ssh2 bridge in Node (bench/ws-ssh-bridge.ts), and a bare
//                  ssh2 server → ssh2 client bridge (bench/ssh-ssh-bridge.ts): this stack's least
//                  for each front door to a node, before any of Sallyport's own work
// Each path prints keystroke echo p50/p99 (200 keys) and bulk output (16 MiB), and its ratio to
// each baseline it is compared with. The fleet node is a network namespace with a real sshd.
// Run: npx tsx bench/paths.ts   (as root; needs PostgreSQL, dockerd, sshd, nft; ~6 minutes)
// One path and its baselines: BENCH_ONLY='door → node \(runtime' npx tsx bench/paths.ts
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../server/dev/index.js';
import { PACKAGE_ROOT } from '../server/paths.js';
import { encodePrivateKeyFile, generateEd25519, parsePrivateKeyFile } from '../server/signing/index.js';
import { apiSession } from '../test/support/api-session.js';
import { Browser, startTestBroker } from '../test/support/broker.js';
import { NODE_LOGIN, nodeConfigFiles, startFleetNode, type FleetNode } from '../test/support/fleet-node.js';
import { runCli } from '../test/support/process.js';
import { certificateLogin, comparePaths, doorClient, scratchBrokerDatabase, startWsSshBridge, terminalClient } from './support.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

/** An OpenSSH bastion on loopback: root with one key, forwarding allowed (for `ssh -J`). */
async function startBastion(dir: string): Promise<{ port: number; key: string; knownHost: string; stop(): void }> {
  const port = await freePort();
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'bastion_host')]);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'bastion_user')]);
  writeFileSync(join(dir, 'bastion_keys'), readFileSync(join(dir, 'bastion_user.pub')));
  chmodSync(join(dir, 'bastion_keys'), 0o600);
  writeFileSync(
    join(dir, 'bastion_config'),
    [`Port ${port}`, 'ListenAddress 127.0.0.1', `HostKey ${join(dir, 'bastion_host')}`, `AuthorizedKeysFile ${join(dir, 'bastion_keys')}`, 'PermitRootLogin prohibit-password',
      'PasswordAuthentication no', 'KbdInteractiveAuthentication no', 'UsePAM no', 'StrictModes no', 'AllowTcpForwarding yes', `PidFile ${join(dir, 'bastion.pid')}`].join('\n') + '\n',
  );
  const sshd: ChildProcess = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', join(dir, 'bastion_config')], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 500));
  const hostLine = readFileSync(join(dir, 'bastion_host.pub'), 'utf8').split(' ').slice(0, 2).join(' ');
  return { port, key: join(dir, 'bastion_user'), knownHost: `[127.0.0.1]:${port} ${hostLine}`, stop: () => sshd.kill() };
}

/** bench/ssh-ssh-bridge.ts in its own process: the port it listens on. */
async function startDoorBridge(caText: string, node: FleetNode): Promise<{ port: number; stop(): void }> {
  const nodeJson = JSON.stringify({ name: 'app-1', address: node.address, port: 22, hostKey: node.hostKey, login: NODE_LOGIN });
  const child = spawn(process.execPath, ['--import', 'tsx', join(PACKAGE_ROOT, 'bench', 'ssh-ssh-bridge.ts'), nodeJson], {
    cwd: PACKAGE_ROOT,
    env: { ...process.env, SALLYPORT_SSH_CA_KEY: caText },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve) => child.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))));
  return { port, stop: () => child.kill() };
}

async function main() {
  const image = execFileSync('bash', [`${PACKAGE_ROOT}/images/build-busybox.sh`], { encoding: 'utf8' }).trim();
  const imageId = execFileSync('docker', ['image', 'inspect', '-f', '{{.Id}}', image], { encoding: 'utf8' }).trim();
  const caText = (await runCli(['ssh-ca', 'new'], {})).stdout;
  const ca = parsePrivateKeyFile(caText).key;
  const node = await startFleetNode({ files: nodeConfigFiles(caText) });
  const dir = mkdtempSync(join(tmpdir(), 'sallyport-bench-paths-'));
  const bastion = await startBastion(dir);
  const bridge = await startWsSshBridge(caText, node, NODE_LOGIN);
  const doorBridge = await startDoorBridge(caText, node);
  const database = await scratchBrokerDatabase();
  const catalog = join(dir, 'catalog.yaml');
  // The same hardening for the local and the node's container, as the Engine API baseline has.
  const container = `image: "${imageId}", command: [sh], user: "1000:1000", limits: { memory: 64m, cpus: 1, pids: 32, maxDuration: 1h, idleTimeout: 15m }`;
  writeFileSync(
    catalog,
    `version: 1
nodes:
  - { name: app-1, address: "${node.address}", hostKey: "${node.hostKey}", login: ${NODE_LOGIN} }
targets:
  - { name: shell, description: a local container, runtime: docker, ${container}, allow: { groups: [developers] } }
  - { name: fleet-shell, description: a container on app-1, runtime: docker, nodes: [app-1], ${container}, allow: { groups: [developers] } }
  - { name: node-shell, description: a shell on app-1, runtime: ssh, nodes: [app-1], command: [sh], recordInput: true,
      limits: { maxDuration: 1h, idleTimeout: 15m }, allow: { groups: [developers] } }
`,
  );
  const t = await startTestBroker(
    {
      SALLYPORT_CATALOG: catalog,
      SALLYPORT_SSH_CA_KEY: caText,
      SALLYPORT_SSH_LISTEN: '127.0.0.1:0',
      SALLYPORT_SSH_HOST_KEY: encodePrivateKeyFile(generateEd25519(), 'bench-host'),
      SALLYPORT_LOG_LEVEL: 'warn',
    },
    { database: { ...database, drop: async () => {} } },
  );
  try {
    const b = new Browser();
    await t.login(b, 'alice');
    const cookie = `sallyport=${b.cookies(t.url).get('sallyport')}`;
    const alice = await apiSession(t, 'alice');
    const doorPort = t.broker.sshPort!;
    const doorHostKey = (await (await fetch(`${t.url}/.well-known/sallyport/ssh-host-key.pub`)).text()).trim().split(' ').slice(0, 2).join(' ');
    writeFileSync(join(dir, 'known_hosts'), `${node.address} ${node.hostKey}\n[127.0.0.1]:${doorPort} ${doorHostKey}\n${bastion.knownHost}\n`);
    const common = ['-F', '/dev/null', '-o', `UserKnownHostsFile=${join(dir, 'known_hosts')}`, '-o', 'StrictHostKeyChecking=yes', '-tt'];

    /** Stock OpenSSH to the node with a fresh broker-style certificate; through the bastion with `jump`. */
    const nodeSsh = (jump: boolean) => {
      const auth = certificateLogin(dir, ca, node, NODE_LOGIN);
      // The jump host's own login: its key, and the same known_hosts.
      const via = jump ? ['-o', `ProxyCommand=ssh ${common.slice(0, -1).join(' ')} -i ${bastion.key} -o IdentitiesOnly=yes -o BatchMode=yes -p ${bastion.port} -W %h:%p root@127.0.0.1`] : ['-b', node.brokerAddress];
      return terminalClient(['ssh', JSON.stringify([...common, ...auth, ...via, `${NODE_LOGIN}@${node.address}`, 'sh'])]);
    };
    const door = (target: string) =>
      doorClient([...common, '-o', 'PubkeyAuthentication=no', '-p', String(doorPort), `${target}@127.0.0.1`], (token) => alice.post(`/api/ssh-logins/${token}/confirm`, {}));
    const bridged = () => terminalClient(['ssh', JSON.stringify(['-F', '/dev/null', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-tt', '-o', 'PubkeyAuthentication=no', '-p', String(doorBridge.port), 'bench@127.0.0.1'])]);
    const browser = (target: string) => terminalClient(['broker', t.url, cookie, target]);
    const SSH = 'stock ssh → node';
    const ATTACH = 'Engine API attach';
    const BASTION = 'ssh -J bastion → node';
    const all = [
      { name: SSH, run: () => nodeSsh(false) },
      { name: ATTACH, run: () => terminalClient(['docker', image]) },
      { name: BASTION, run: () => nodeSsh(true), against: [SSH] },
      { name: 'bare ws → ssh2 bridge → node (floor)', run: () => terminalClient(['broker', bridge.url, 'none', 'bridge']), against: [SSH] },
      { name: 'stock ssh → bare ssh2 → ssh2 bridge → node (floor)', run: bridged, against: [SSH] },
      { name: 'browser → local Docker', run: () => browser('shell'), against: [ATTACH] },
      { name: 'browser → node (runtime ssh)', run: () => browser('node-shell'), against: [SSH, BASTION] },
      { name: 'browser → node Docker (over ssh)', run: () => browser('fleet-shell'), against: [ATTACH, BASTION] },
      { name: 'ssh door → local Docker', run: () => door('shell'), against: [ATTACH, SSH] },
      { name: 'ssh door → node (runtime ssh)', run: () => door('node-shell'), against: [SSH, BASTION, 'stock ssh → bare ssh2 → ssh2 bridge → node (floor)'] },
      { name: 'ssh door → node Docker (over ssh)', run: () => door('fleet-shell'), against: [ATTACH, BASTION] },
    ];
    // BENCH_ONLY=<regex>: only the paths it matches, with the baselines they are compared with.
    const only = process.env.BENCH_ONLY ? new RegExp(process.env.BENCH_ONLY) : undefined;
    const picked = only ? all.filter((p) => only.test(p.name)) : all;
    const needed = new Set(picked.flatMap((p) => p.against ?? []));
    await comparePaths('every front door × runtime, against direct paths and an OpenSSH bastion', ROUNDS, all.filter((p) => picked.includes(p) || needed.has(p.name)));
  } finally {
    await t.close();
    bridge.stop();
    doorBridge.stop();
    bastion.stop();
    await database.drop();
    await node.stop();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
