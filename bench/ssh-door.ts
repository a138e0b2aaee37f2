// Benchmark: the SSH front door — a stock OpenSSH client → the broker's ssh2 server → a local
// Docker console, recorded to PostgreSQL — versus the same stock client talking straight to an
// sshd on this machine (a shell under its PTY), in the same run. The client runs in its own
// process for both (bench/terminal-client.ts); the door's login link is confirmed through the
// API as soon as the client prints it. A floor is measured in the same rounds: the same hardened
// container driven straight over the Docker Engine API (no SSH, no broker) — what the console
// behind the door costs against the baseline before the door does anything.
//   keystroke echo — one key, to its echo on screen, 200 keys per round
//   bulk output    — 16 MiB of terminal output
// Run: npx tsx bench/ssh-door.ts   (as root: it starts an sshd on loopback; needs PostgreSQL, dockerd)
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, chmodSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../server/dev/index.js';
import { PACKAGE_ROOT } from '../server/paths.js';
import { encodePrivateKeyFile, generateEd25519 } from '../server/signing/index.js';
import { apiSession } from '../test/support/api-session.js';
import { startTestBroker } from '../test/support/broker.js';
import { writeConsoleCatalog } from '../test/support/console-catalog.js';
import { compareTerminals, doorClient, scratchBrokerDatabase, terminalClient } from './support.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

/** An sshd on loopback for root with one key, running until stop(); the direct baseline. */
async function startLocalSshd(dir: string) {
  const port = await freePort();
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'host')]);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'user')]);
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(join(dir, 'user.pub')));
  chmodSync(join(dir, 'authorized_keys'), 0o600);
  writeFileSync(
    join(dir, 'sshd_config'),
    [`Port ${port}`, 'ListenAddress 127.0.0.1', `HostKey ${join(dir, 'host')}`, `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`, 'PermitRootLogin prohibit-password',
      'PasswordAuthentication no', 'KbdInteractiveAuthentication no', 'UsePAM no', 'StrictModes no', `PidFile ${join(dir, 'sshd.pid')}`].join('\n') + '\n',
  );
  const sshd = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', join(dir, 'sshd_config')], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 500));
  const hostLine = readFileSync(join(dir, 'host.pub'), 'utf8').split(' ').slice(0, 2).join(' ');
  writeFileSync(join(dir, 'known_hosts_direct'), `[127.0.0.1]:${port} ${hostLine}\n`);
  return { port, stop: () => sshd.kill() };
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'sallyport-bench-ssh-'));
  const image = execFileSync('bash', [`${PACKAGE_ROOT}/images/build-busybox.sh`], { encoding: 'utf8' }).trim();
  const database = await scratchBrokerDatabase();
  const sshd = await startLocalSshd(dir);
  const t = await startTestBroker(
    {
      SALLYPORT_CATALOG: writeConsoleCatalog(image),
      CONSOLE_GREETING: 'bench',
      SALLYPORT_SSH_LISTEN: '127.0.0.1:0',
      SALLYPORT_SSH_HOST_KEY: encodePrivateKeyFile(generateEd25519(), 'bench-host'),
      SALLYPORT_LOG_LEVEL: 'warn',
    },
    { database: { ...database, drop: async () => {} } },
  );
  try {
    const alice = await apiSession(t, 'alice');
    const doorPort = t.broker.sshPort!;
    const hostKey = (await (await fetch(`${t.url}/.well-known/sallyport/ssh-host-key.pub`)).text()).trim().split(' ').slice(0, 2).join(' ');
    writeFileSync(join(dir, 'known_hosts_door'), `[127.0.0.1]:${doorPort} ${hostKey}\n`);
    const common = ['-F', '/dev/null', '-o', 'StrictHostKeyChecking=yes', '-tt'];
    const directArgs = JSON.stringify([...common, '-o', `UserKnownHostsFile=${join(dir, 'known_hosts_direct')}`, '-i', join(dir, 'user'), '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes', '-p', String(sshd.port), 'root@127.0.0.1', "PS1='$ ' exec sh"]);
    const viaDoor = () => doorClient([...common, '-o', `UserKnownHostsFile=${join(dir, 'known_hosts_door')}`, '-o', 'PubkeyAuthentication=no', '-p', String(doorPort), 'shell@127.0.0.1'], (token) => alice.post(`/api/ssh-logins/${token}/confirm`, {}));
    await compareTerminals(
      'SSH door (stock ssh → broker → Docker console, recorded) vs stock ssh → local sshd',
      ROUNDS,
      { name: 'direct', run: () => terminalClient(['ssh', directArgs]) },
      { name: 'door', run: viaDoor },
      [{ name: 'the container alone, direct Engine API attach', run: () => terminalClient(['docker', image]) }],
    );
  } finally {
    await t.close();
    sshd.stop();
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
