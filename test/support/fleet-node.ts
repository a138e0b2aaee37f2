// A fleet node for tests: a network namespace joined to the machine by a veth pair, with a real
// OpenSSH sshd inside configured with what `sallyport node-config` prints, and the generated
// nftables ruleset applied in the namespace. The machine's side of the veth has two addresses:
// the broker's and an "intruder" one, so a test can connect from an address the node must refuse.
// Only addresses inside the namespace this file made are ever contacted.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, mkdir, readFile, rm, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import type { NodeFile } from '../../server/runtime/fleet/node-config.js';
import { runCli } from './process.js';

const run = promisify(execFile);

export const NODE_LOGIN = 'sallyport-node';

export interface FleetNode {
  /** The namespace's name (also the veth prefix). */
  readonly netns: string;
  /** The node's address, inside the namespace. */
  readonly address: string;
  /** The broker's address on the machine's side. */
  readonly brokerAddress: string;
  /** Another address on the machine's side, which the node's firewall must refuse. */
  readonly intruderAddress: string;
  readonly hostKey: string;
  readonly dir: string;
  /** The node's main sshd_config (its drop-ins are in sshd_config.d beside it): the catalogue's sshdConfig. */
  readonly sshdConfig: string;
  /** sshd's log so far (VERBOSE: accepted certificates with key id and serial, refusals). */
  log(): string;
  /** Runs a command inside the node's namespace (nft, ss, …). */
  exec(cmd: string[]): Promise<{ stdout: string; stderr: string }>;
  /** Replaces the sshd host key with a new one and restarts sshd (a rebuilt node). */
  rotateHostKey(): Promise<string>;
  stop(): Promise<void>;
}

async function sh(cmd: string, args: string[]): Promise<string> {
  const { stdout } = await run(cmd, args, { timeout: 20_000 });
  return stdout;
}

/** The one account the broker logs in as: created once on this machine (namespaces share it). */
export async function ensureNodeLogin(): Promise<void> {
  try {
    await sh('id', ['-u', NODE_LOGIN]);
  } catch {
    await sh('useradd', ['--create-home', '--shell', '/bin/sh', NODE_LOGIN]).catch(async (err) => {
      // Another test file may have created it at the same moment.
      await sh('id', ['-u', NODE_LOGIN]).catch(() => Promise.reject(err));
    });
  }
  // '*' rather than useradd's '!': sshd without PAM refuses "locked" accounts even for certificates.
  await sh('usermod', ['-p', '*', NODE_LOGIN]);
  await sh('usermod', ['-aG', 'docker', NODE_LOGIN]).catch(() => {});
}

/** A free 10.x.y.0/29 for this node: nothing else on the machine uses it. */
async function freeSubnet(): Promise<string> {
  const used = await sh('ip', ['-o', '-4', 'addr', 'show']);
  for (let i = 0; i < 50; i++) {
    const base = `10.${200 + (randomBytes(1)[0]! % 50)}.${randomBytes(1)[0]!}.${(randomBytes(1)[0]! % 32) * 8}`;
    const prefix = base.split('.').slice(0, 3).join('.') + '.';
    if (!used.includes(` ${prefix}`)) return base;
  }
  throw new Error('no free 10.x.y.0/29 subnet for a test node');
}

/** What `sallyport node-config` prints for a node trusting the CA `caText`: what a real node is given. */
export function nodeConfigFiles(caText: string): StartNodeOptions['files'] {
  return async (sshDir, brokerAddress) => {
    const out = await runCli(['node-config', '--broker-address', brokerAddress, '--login', NODE_LOGIN, '--ssh-dir', sshDir, '--format', 'json'], { SALLYPORT_SSH_CA_KEY: caText });
    if (out.code !== 0) throw new Error(`sallyport node-config failed: ${out.stderr}`);
    return (JSON.parse(out.stdout) as { files: NodeFile[] }).files;
  };
}

export interface StartNodeOptions {
  /** The files `sallyport node-config --format json` printed (paths under the node's ssh dir). */
  files(sshDir: string, brokerAddress: string): Promise<NodeFile[]>;
  /**
   * Other drop-ins an image brings (file name → content; `{dir}` is the node's directory), as
   * cloud-init's 50-cloud-init.conf or an organisation's 10-*.conf would.
   */
  dropIns?: Record<string, string>;
}

export async function startFleetNode(o: StartNodeOptions): Promise<FleetNode> {
  await ensureNodeLogin();
  await mkdir('/run/sshd', { recursive: true });
  const id = randomBytes(3).toString('hex');
  const netns = `spn${id}`;
  const base = (await freeSubnet()).split('.').map(Number);
  const addr = (n: number) => `${base[0]}.${base[1]}.${base[2]}.${base[3]! + n}`;
  const brokerAddress = addr(1);
  const address = addr(2);
  const intruderAddress = addr(3);
  const dir = await mkdtemp(join(tmpdir(), `sallyport-node-${id}-`));
  // sshd reads the principals file as the login user: the node's files must be world-readable.
  await chmod(dir, 0o755);
  const sshDir = join(dir, 'ssh');
  await mkdir(sshDir, { recursive: true });

  await sh('ip', ['netns', 'add', netns]);
  const cleanups: Array<() => Promise<unknown>> = [() => sh('ip', ['netns', 'del', netns])];
  const inNs = (cmd: string[]) => run('ip', ['netns', 'exec', netns, ...cmd], { timeout: 20_000 });
  let sshd: ChildProcess | undefined;
  let log = '';
  try {
    await sh('ip', ['link', 'add', `${netns}h`, 'type', 'veth', 'peer', 'name', `${netns}n`]);
    await sh('ip', ['link', 'set', `${netns}n`, 'netns', netns]);
    await sh('ip', ['addr', 'add', `${brokerAddress}/29`, 'dev', `${netns}h`]);
    await sh('ip', ['addr', 'add', `${intruderAddress}/29`, 'dev', `${netns}h`]);
    await sh('ip', ['link', 'set', `${netns}h`, 'up']);
    await inNs(['ip', 'addr', 'add', `${address}/29`, 'dev', `${netns}n`]);
    await inNs(['ip', 'link', 'set', `${netns}n`, 'up']);
    await inNs(['ip', 'link', 'set', 'lo', 'up']);

    const hostKeyPath = join(dir, 'host_ed25519');
    await sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', netns, '-f', hostKeyPath]);
    for (const f of await o.files(sshDir, brokerAddress)) {
      // The nftables file's path is the real node's; in the test it lives beside the rest.
      const path = f.path.startsWith(sshDir) ? f.path : join(dir, f.path.split('/').pop()!);
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, f.content);
      await chmod(path, parseInt(f.mode, 8));
      if (f.path.endsWith('.nft')) await inNs(['nft', '-f', path]);
    }
    for (const [name, content] of Object.entries(o.dropIns ?? {})) {
      await mkdir(join(sshDir, 'sshd_config.d'), { recursive: true });
      await writeFile(join(sshDir, 'sshd_config.d', name), content.replaceAll('{dir}', dir));
    }
    // The main file is the test's own: where to listen, its host key, no PAM. Everything about
    // who may log in comes from the node-config drop-in included first.
    const sshdConfig = join(sshDir, 'sshd_config');
    await writeFile(
      sshdConfig,
      [
        `Include ${sshDir}/sshd_config.d/*.conf`,
        `ListenAddress ${address}`,
        `HostKey ${hostKeyPath}`,
        `PidFile ${join(dir, 'sshd.pid')}`,
        'UsePAM no',
        // The test's files live under /tmp (mode 1777), which StrictModes would refuse.
        'StrictModes no',
        'LogLevel VERBOSE',
        '',
      ].join('\n'),
    );
    const startSshd = async () => {
      sshd = spawn('ip', ['netns', 'exec', netns, '/usr/sbin/sshd', '-D', '-e', '-f', sshdConfig], { stdio: ['ignore', 'ignore', 'pipe'] });
      sshd.stderr!.on('data', (d) => (log += d));
      const deadline = Date.now() + 10_000;
      while (!/Server listening/.test(log)) {
        if (sshd.exitCode !== null || Date.now() > deadline) throw new Error(`sshd did not start in ${netns}:\n${log}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    const stopSshd = async () => {
      if (!sshd || sshd.exitCode !== null) return;
      const exited = new Promise((r) => sshd!.once('exit', r));
      sshd.kill('SIGTERM');
      await exited;
    };
    await startSshd();
    cleanups.unshift(stopSshd);
    const hostKeyLine = async () => (await readFile(`${hostKeyPath}.pub`, 'utf8')).trim().split(/\s+/).slice(0, 2).join(' ');
    return {
      netns,
      address,
      brokerAddress,
      intruderAddress,
      hostKey: await hostKeyLine(),
      dir,
      sshdConfig,
      log: () => log,
      exec: (cmd) => inNs(cmd),
      async rotateHostKey() {
        await stopSshd();
        await rm(hostKeyPath, { force: true });
        await rm(`${hostKeyPath}.pub`, { force: true });
        await sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', netns, '-f', hostKeyPath]);
        log = '';
        await startSshd();
        return hostKeyLine();
      },
      async stop() {
        for (const c of cleanups) await c().catch(() => {});
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    for (const c of cleanups) await c().catch(() => {});
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}
