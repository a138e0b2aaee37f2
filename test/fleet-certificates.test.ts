// The broker as an SSH certificate authority, against a real OpenSSH sshd in a network namespace
// configured with `sallyport node-config` output and its nftables rules. The broker's own client
// (ssh2, with the certificate fix in server/runtime/fleet/ssh2-certificates.ts) logs in; stock
// OpenSSH clients with other certificates, keys and source addresses are refused.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isSallyportError } from '../server/errors.js';
import { connectNode } from '../server/runtime/fleet/connect.js';
import { createFleetPool } from '../server/runtime/fleet/pool.js';
import type { NodeAddress } from '../server/runtime/types.js';
import { encodePrivateKeyFile, generateEd25519, parsePrivateKeyFile, signUserCertificate, type Ed25519Key } from '../server/signing/index.js';
import { NODE_LOGIN, nodeConfigFiles, startFleetNode, type FleetNode } from './support/fleet-node.js';
import { runCli } from './support/process.js';

const execFileP = promisify(execFile);

let node: FleetNode;
let ca: Ed25519Key;
let caText: string;
let dir: string;

function exec(client: import('ssh2').Client, command: string): Promise<{ out: string; code: number | null }> {
  return new Promise((resolve, reject) => {
    client.exec(command, (err, stream) => {
      if (err) return reject(err);
      let out = '';
      stream.on('data', (d: Buffer) => (out += d));
      stream.stderr.on('data', (d: Buffer) => (out += d));
      stream.on('close', (code: number | null) => resolve({ out, code }));
    });
  });
}

const target = (): NodeAddress => ({ name: 'app-1', address: node.address, port: 22, hostKey: node.hostKey, login: NODE_LOGIN });

/** A stock OpenSSH client with a key (and optionally a certificate) from `from`. */
async function opensshLogin(o: { from: string; cert?: Parameters<typeof signUserCertificate>[1] | 'none'; args?: string[]; command?: string }): Promise<{ code: number; out: string }> {
  const key = generateEd25519();
  const base = join(dir, `k${Math.random().toString(36).slice(2)}`);
  await writeFile(base, encodePrivateKeyFile(key, 'test'), { mode: 0o600 });
  const args = ['-F', '/dev/null', '-i', base, '-o', 'IdentitiesOnly=yes', '-o', `UserKnownHostsFile=${join(dir, 'known_hosts')}`, '-o', 'StrictHostKeyChecking=yes'];
  if (o.cert !== 'none') {
    const now = Date.now();
    const req = o.cert ?? { publicKey: key.publicKey, serial: 7n, keyId: 'test', principals: [NODE_LOGIN], validAfter: new Date(now - 30_000), validBefore: new Date(now + 60_000), sourceAddresses: [node.brokerAddress], extensions: ['permit-pty'] };
    const cert = signUserCertificate(ca, { ...req, publicKey: key.publicKey });
    await writeFile(`${base}-cert.pub`, `${cert.line}\n`);
    args.push('-o', `CertificateFile=${base}-cert.pub`);
  }
  args.push('-o', 'BatchMode=yes', '-o', 'ConnectTimeout=3', '-b', o.from, ...(o.args ?? []), `${NODE_LOGIN}@${node.address}`, o.command ?? 'id -un');
  try {
    const { stdout, stderr } = await execFileP('ssh', args, { timeout: 15_000 });
    return { code: 0, out: stdout + stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: typeof e.code === 'number' ? e.code : -1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

/** Refused before a shell: the client says so, and sshd's log (since `mark`) says why. */
function expectRefused(r: { code: number; out: string }, mark: number, why: RegExp): void {
  expect(r.code).toBe(255);
  expect(r.out).toMatch(/Permission denied|Too many authentication failures/);
  expect(r.out).not.toContain(NODE_LOGIN + '\n');
  expect(node.log().slice(mark)).toMatch(why);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sallyport-fleet-cert-'));
  const made = await runCli(['ssh-ca', 'new'], {});
  expect(made.code, made.stderr).toBe(0);
  caText = made.stdout;
  ca = parsePrivateKeyFile(caText).key;
  node = await startFleetNode({ files: nodeConfigFiles(caText) });
  await writeFile(join(dir, 'known_hosts'), `${node.address} ${node.hostKey}\n`);
});

afterAll(async () => {
  await node?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('the broker logs in to a fleet node with a one-minute certificate', () => {
  it('authenticates with a fresh certificate whose serial and key id sshd logs', async () => {
    const conn = await connectNode(target(), { ca, keyId: 'sallyport session=s-1 user=alice' });
    try {
      const { out, code } = await exec(conn.client, 'id -un');
      expect(code).toBe(0);
      expect(out.trim()).toBe(NODE_LOGIN);
    } finally {
      conn.close();
    }
    expect(conn.certificate.keyId).toBe('sallyport session=s-1 user=alice');
    // The broker's own certificate (not one the test signed) is bound to the address it connected
    // from: usable from nowhere else.
    expect(conn.certificate.sourceAddress).toBe(node.brokerAddress);
    expect(node.log()).toContain(`ID "sallyport session=s-1 user=alice" (serial ${conn.certificate.serial})`);
    // Valid for about a minute from now.
    const left = Date.parse(conn.certificate.validBefore) - Date.now();
    expect(left).toBeGreaterThan(30_000);
    expect(left).toBeLessThanOrEqual(61_000);
  });

  it('refuses a node whose host key is not the pinned one, naming the node and both fingerprints', async () => {
    const other = generateEd25519();
    const { publicKeyLine, fingerprint, ed25519Blob, parsePublicKeyLine } = await import('../server/signing/index.js');
    const pinned = publicKeyLine(other.publicKey);
    const err = await connectNode({ ...target(), hostKey: pinned }, { ca, keyId: 'k' }).catch((e: unknown) => e);
    expect(isSallyportError(err, 'HOST_KEY_REJECTED')).toBe(true);
    const message = (err as Error).message;
    expect(message).toContain('app-1');
    expect(message).toContain(fingerprint(ed25519Blob(other.publicKey)));
    expect(message).toContain(fingerprint(parsePublicKeyLine(node.hostKey).blob));
    // Nothing was sent to the impostor: no authentication attempt reached its log.
    expect(node.log()).not.toMatch(/Accepted certificate ID "k"/);
  });

  it('audits a node going down once per outage, and every host-key refusal', async () => {
    const refused: string[] = [];
    const down = { ...target(), name: 'down-1', port: 2 };
    const impostor = { ...target(), name: 'impostor-1', hostKey: (await import('../server/signing/index.js')).publicKeyLine(generateEd25519().publicKey) };
    const pool = createFleetPool({ ca, sourceAddresses: undefined, certificateSeconds: 60, connectTimeoutMs: 2_000, nodes: () => [down, impostor, target()], onRefused: (n, e) => refused.push(`${n.name} ${e.code}`) });
    for (let i = 0; i < 3; i++) await expect(pool.connectTo('down-1', 'k')).rejects.toThrow(/unreachable/);
    for (let i = 0; i < 2; i++) await expect(pool.connectTo('impostor-1', 'k')).rejects.toThrow(/host key/);
    expect(refused).toEqual(['down-1 NODE_UNREACHABLE', 'impostor-1 HOST_KEY_REJECTED', 'impostor-1 HOST_KEY_REJECTED']);
    expect(pool.health('down-1')).toMatchObject({ reachable: false });
    (await pool.connectTo('app-1', 'k')).close();
    expect(pool.health('app-1')).toMatchObject({ reachable: true, error: undefined });
  });

  it('reports an unreachable node within the connect timeout', async () => {
    const started = Date.now();
    const err = await connectNode({ ...target(), port: 2 }, { ca, keyId: 'k', connectTimeoutMs: 2_000 }).catch((e: unknown) => e);
    expect(isSallyportError(err, 'NODE_UNREACHABLE')).toBe(true);
    expect((err as Error).message).toContain('app-1');
    // Refused at the timeout asked for, not the default ten seconds.
    expect(Date.now() - started).toBeLessThan(8_000);
  });
});

describe('the node accepts nothing else', () => {
  it('a stock OpenSSH client with a broker certificate gets in from the broker address', async () => {
    const r = await opensshLogin({ from: node.brokerAddress });
    expect(r.out.trim()).toBe(NODE_LOGIN);
    expect(r.code).toBe(0);
  });

  it('drops SSH from any other address (the generated nftables rules)', async () => {
    const r = await opensshLogin({ from: node.intruderAddress });
    expect(r.code).toBe(255);
    expect(r.out).toMatch(/timed out/i);
    const { stdout } = await node.exec(['nft', 'list', 'table', 'inet', 'sallyport']);
    expect(stdout).toMatch(/counter packets [1-9]/);
  });

  describe('with the firewall opened on purpose', () => {
    beforeAll(async () => {
      await node.exec(['nft', 'delete', 'table', 'inet', 'sallyport']);
    });

    it('refuses a broker certificate used from another address (source-address)', async () => {
      const mark = node.log().length;
      const r = await opensshLogin({ from: node.intruderAddress });
      expectRefused(r, mark, new RegExp(`not from a permitted source address \\(${node.intruderAddress.replace(/\./g, '\\.')}\\)`));
    });

    it('refuses an expired certificate', async () => {
      const now = Date.now();
      const mark = node.log().length;
      const r = await opensshLogin({ from: node.intruderAddress, cert: { publicKey: Buffer.alloc(32), serial: 8n, keyId: 'expired', principals: [NODE_LOGIN], validAfter: new Date(now - 180_000), validBefore: new Date(now - 60_000), sourceAddresses: [node.intruderAddress], extensions: ['permit-pty'] } });
      expectRefused(r, mark, /expired|not yet valid|invalid certificate/i);
    });

    it('refuses a certificate for another principal', async () => {
      const now = Date.now();
      const mark = node.log().length;
      const r = await opensshLogin({ from: node.intruderAddress, cert: { publicKey: Buffer.alloc(32), serial: 9n, keyId: 'root', principals: ['root', 'admin'], validAfter: new Date(now - 30_000), validBefore: new Date(now + 60_000), sourceAddresses: [node.intruderAddress], extensions: ['permit-pty'] } });
      expectRefused(r, mark, /does not contain an authorized principal/);
    });

    it('refuses a plain key', async () => {
      const mark = node.log().length;
      const r = await opensshLogin({ from: node.intruderAddress, cert: 'none' });
      expectRefused(r, mark, /Failed publickey for sallyport-node .* ED25519 SHA256/);
    });

    it('a certificate that asks for port forwarding logs in but gets none', async () => {
      const now = Date.now();
      const r = await opensshLogin({
        from: node.intruderAddress,
        cert: { publicKey: Buffer.alloc(32), serial: 10n, keyId: 'fwd', principals: [NODE_LOGIN], validAfter: new Date(now - 30_000), validBefore: new Date(now + 60_000), sourceAddresses: [node.intruderAddress], extensions: ['permit-pty', 'permit-port-forwarding', 'permit-agent-forwarding'] },
        args: ['-o', 'ExitOnForwardFailure=yes', '-R', '127.0.0.1:47022:127.0.0.1:22'],
        command: 'echo logged-in',
      });
      expect(r.code).toBe(255);
      expect(r.out).toMatch(/forwarding failed|administratively prohibited|Could not request local forwarding/i);
      expect(r.out).not.toContain('logged-in');
    });
  });
});
