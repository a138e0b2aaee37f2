// A node whose image brings its own sshd drop-ins, as real images do: cloud-init's
// 50-cloud-init.conf (PasswordAuthentication yes) and an organisation's 10-org.conf (a key file
// and a second Port). The lockdown must hold anyway: 00-sallyport.conf is read first, so no plain
// key logs in even from the broker's address; the firewall admits new TCP from the broker only,
// so the extra port is closed to everyone else; and the broker's own check (sshd -T) names the
// extra port on the Fleet API and in /metrics, as does the script node-config prints.
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiSession } from './support/api-session.js';
import { startTestBroker, type TestBroker } from './support/broker.js';
import { NODE_LOGIN, nodeConfigFiles, startFleetNode, type FleetNode } from './support/fleet-node.js';
import { runCli } from './support/process.js';

const run = promisify(execFile);
const TOKEN = 'metrics-token-for-the-test-0123456789abcdef';
let node: FleetNode;
let t: TestBroker;
let plainKey: string;

beforeAll(async () => {
  const caText = (await runCli(['ssh-ca', 'new'], {})).stdout;
  const keys = mkdtempSync(join(tmpdir(), 'sallyport-plainkey-'));
  plainKey = join(keys, 'id');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', plainKey]);
  node = await startFleetNode({
    files: nodeConfigFiles(caText),
    dropIns: {
      '50-cloud-init.conf': 'PasswordAuthentication yes\n',
      '10-org.conf': 'AuthorizedKeysFile {dir}/authorized_keys\nPort 2222\nPort 22\n',
    },
  });
  // The old plain key, left in the file the organisation's drop-in names.
  writeFileSync(join(node.dir, 'authorized_keys'), execFileSync('cat', [`${plainKey}.pub`]));
  const catalog = join(mkdtempSync(join(tmpdir(), 'sallyport-lockdown-')), 'catalog.yaml');
  writeFileSync(
    catalog,
    `version: 1
nodes:
  - { name: app-1, address: "${node.address}", hostKey: "${node.hostKey}", login: ${NODE_LOGIN}, sshdConfig: "${node.sshdConfig}" }
targets:
  - { name: node-shell, description: a shell on the node, runtime: ssh, nodes: [app-1], command: [sh], limits: { maxDuration: 1h, idleTimeout: 15m }, allow: { groups: [developers] } }
`,
  );
  t = await startTestBroker({ SALLYPORT_CATALOG: catalog, SALLYPORT_SSH_CA_KEY: caText, SALLYPORT_METRICS_TOKEN: TOKEN });
}, 120_000);
afterAll(async () => {
  await t?.close();
  await node?.stop();
});

/** A stock OpenSSH login with the plain key, from `from` to the node's `port`: its exit status and output. */
async function plainLogin(from: string, port: number) {
  return run(
    'ssh',
    ['-i', plainKey, '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'ConnectTimeout=3', '-b', from, '-p', String(port), `${NODE_LOGIN}@${node.address}`, 'echo in'],
    { timeout: 15_000 },
  ).then(
    (r) => ({ code: 0, out: r.stdout + r.stderr }),
    (err: { code?: number; stdout?: string; stderr?: string }) => ({ code: err.code ?? -1, out: `${err.stdout ?? ''}${err.stderr ?? ''}` }),
  );
}

describe('a node whose image brings drop-ins of its own', () => {
  it('takes no plain key, even from the broker’s address; the extra port is closed to everyone but the broker', async () => {
    const broker = await plainLogin(node.brokerAddress, 22);
    expect(broker.code).not.toBe(0);
    expect(broker.out).toMatch(/Permission denied/);
    const extra = await plainLogin(node.brokerAddress, 2222);
    expect(extra.out).toMatch(/Permission denied/); // reachable from the broker, and still no key
    const intruder = await plainLogin(node.intruderAddress, 2222);
    expect(intruder.code).not.toBe(0);
    expect(intruder.out).toMatch(/timed out|Connection refused|No route/i);
    expect(intruder.out).not.toMatch(/Permission denied/);
  }, 60_000);

  it('the broker’s check names the extra port on the Fleet API and in /metrics; the node’s own script agrees', async () => {
    const dave = await apiSession(t, 'dave');
    const fleet = (await dave.get('/api/fleet')).body.nodes as Array<{ name: string; lockdown: { ok: boolean; problems: string[] } }>;
    expect(fleet[0]!.lockdown.ok).toBe(false);
    expect(fleet[0]!.lockdown.problems).toEqual(['sshd also listens on port 2222, which only the firewall guards']);
    const metrics = await (await fetch(`${t.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).text();
    expect(metrics).toMatch(/^sallyport_node_lockdown\{node="app-1"\} 0$/m);
    // The script node-config printed, run on the node as root (its firewall is loaded there).
    const check = await node.exec(['sh', join(node.dir, 'ssh', 'sallyport-lockdown-check')]).then(
      (r) => r.stdout,
      (err: { stdout?: string }) => err.stdout ?? '',
    );
    expect(check.trim()).toBe('FAIL: sshd also listens on port 2222');
  }, 60_000);
});
