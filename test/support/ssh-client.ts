// The stock OpenSSH client, as a person runs it: in a terminal (util-linux `script` gives it a
// PTY), with the broker's host key pinned in a known_hosts file of its own and no user config,
// so nothing on this machine changes what it does. The test types into it and reads the screen.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodePrivateKeyFile, generateEd25519 } from '../../server/signing/index.js';
import { startTestBroker, type TestBroker } from './broker.js';
import { writeConsoleCatalog } from './console-catalog.js';

export interface SshClient {
  readonly child: ChildProcess;
  /** Everything the terminal showed so far. */
  output(): string;
  waitFor(re: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  type(keys: string): void;
  /** The client's exit status (ssh passes the remote one through). */
  readonly exited: Promise<number | null>;
}

export function knownHostsFile(port: number, hostKeyLine: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'sallyport-ssh-'));
  const file = join(dir, 'known_hosts');
  writeFileSync(file, `[127.0.0.1]:${port} ${hostKeyLine.split(' ').slice(0, 2).join(' ')}\n`);
  return file;
}

/** Starts `ssh -p PORT ARGS… USER@127.0.0.1 COMMAND…` in a PTY of COLSxROWS. */
export function sshClient(
  port: number,
  user: string,
  knownHosts: string,
  args: string[] = [],
  /** `agent`: run it under a fresh ssh-agent (so `-A` has an agent to forward). */
  /** `key`: a private key file to log in with (public-key authentication is off otherwise). */
  options: { command?: string[]; size?: { cols: number; rows: number }; agent?: boolean; key?: string } = {},
): SshClient {
  const size = options.size ?? { cols: 100, rows: 30 };
  const ssh = [
    'ssh',
    '-F', '/dev/null',
    '-o', `UserKnownHostsFile=${knownHosts}`,
    '-o', 'StrictHostKeyChecking=yes',
    ...(options.key ? ['-o', 'PubkeyAuthentication=yes', '-o', 'IdentitiesOnly=yes', '-o', 'IdentityAgent=none', '-i', options.key] : ['-o', 'PubkeyAuthentication=no']),
    '-o', 'PasswordAuthentication=no',
    '-o', 'ConnectTimeout=10',
    '-p', String(port),
    ...args,
    `${user}@127.0.0.1`,
    ...(options.command ?? []),
  ];
  const quoted = ssh.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  // script runs the command in a new PTY; stty sets that PTY's size before ssh reads it.
  const child = spawn('script', ['-qfec', `stty cols ${size.cols} rows ${size.rows}; exec ${options.agent ? 'ssh-agent ' : ''}${quoted}`, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  const waiters = new Set<() => void>();
  const onData = (d: Buffer) => {
    out += d.toString('utf8');
    for (const w of [...waiters]) w();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  return {
    child,
    output: () => out,
    type: (keys) => void child.stdin!.write(keys),
    exited,
    waitFor(re, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = re.exec(out);
          if (!m) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(m);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`ssh: timed out waiting for ${re}; the terminal shows:\n${out.slice(-2000)}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
  };
}

/**
 * A test broker with the SSH door on a free port, its console catalogue, and a known_hosts file
 * pinning the host key it publishes (so every client checks it).
 */
export async function startSshDoorBroker(
  image: string,
  overrides: Record<string, string> = {},
  options: Parameters<typeof startTestBroker>[1] = {},
): Promise<{ t: TestBroker; port: number; hostKey: string; knownHosts: string }> {
  const t = await startTestBroker(
    {
      SALLYPORT_CATALOG: writeConsoleCatalog(image),
      CONSOLE_GREETING: 'x',
      SALLYPORT_SSH_LISTEN: '127.0.0.1:0',
      SALLYPORT_SSH_HOST_KEY: encodePrivateKeyFile(generateEd25519(), 'test-host'),
      ...overrides,
    },
    options,
  );
  const port = t.broker.sshPort!;
  const hostKey = (await (await fetch(`${t.url}/.well-known/sallyport/ssh-host-key.pub`)).text()).trim();
  return { t, port, hostKey, knownHosts: knownHostsFile(port, hostKey) };
}
