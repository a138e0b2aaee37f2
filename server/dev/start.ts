// `sallyport dev`: a self-contained demo on embedded defaults. Starts PGlite (unless
// DATABASE_URL is set), the dev IdP with demo users, and the broker on the demo catalogue,
// then prints where to go and how to log in. Its secrets live in a local folder it creates.
import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { exportJWK, generateKeyPair } from 'jose';
import type { JWK } from 'oidc-provider';
import { loadConfig } from '../config/index.js';
import { SallyportError } from '../errors.js';
import { startBroker, type Broker } from '../main.js';
import { DEMO_CATALOG, PACKAGE_ROOT } from '../paths.js';
import { startEmbeddedPostgres, type EmbeddedPostgres } from './embedded-postgres.js';
import { freePort } from './free-port.js';
import { randomPassword, startDevIdp, type DevIdp, type DevUser } from './idp.js';
import { encodePrivateKeyFile, generateEd25519, generateSigningKey } from '../signing/index.js';


export const DEV_CLIENT_ID = 'sallyport-dev';

/** The demo users: one per role. Groups match the default role mapping. */
export const DEMO_USERS: ReadonlyArray<Omit<DevUser, 'password'>> = [
  { username: 'alice', name: 'Alice Developer', email: 'alice@example.test', groups: ['developers'] },
  { username: 'bob', name: 'Bob Approver', email: 'bob@example.test', groups: ['approvers'] },
  { username: 'carol', name: 'Carol Auditor', email: 'carol@example.test', groups: ['auditors'] },
  { username: 'dave', name: 'Dave Admin', email: 'dave@example.test', groups: ['admins'] },
];

interface DevState {
  sessionSecret: string;
  clientSecret: string;
  cookieKey: string;
  signingKey: JWK;
  passwords: Record<string, string>;
  /** Ed25519 private JWK that signs audit checkpoints (added later: older state files lack it). */
  evidenceKey?: JWK;
  /** The SSH user CA (openssh-key-v1 text) for fleet nodes (added later, like evidenceKey). */
  sshCaKey?: string;
  /** The SSH front door's host key: kept, so its fingerprint stays what users verified. */
  sshHostKey?: string;
}

export interface DevHandle {
  broker: Broker;
  idp: DevIdp;
  users: DevUser[];
  dataDir: string;
  close(): Promise<void>;
}

export async function startDev(env: Readonly<Record<string, string | undefined>>): Promise<DevHandle> {
  const dataDir = resolve(env.SALLYPORT_DEV_DIR ?? '.sallyport-dev');
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const unlock = lockDataDir(dataDir);
  const state = await loadOrCreateState(join(dataDir, 'dev-state.json'));
  const users = DEMO_USERS.map((u) => ({ ...u, groups: [...u.groups], password: state.passwords[u.username]! }));

  const host = env.HOST ?? '127.0.0.1';
  const port = env.PORT && env.PORT !== '0' ? Number(env.PORT) : env.PORT === '0' ? await freePort() : 8080;
  const urlHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  const publicUrl = env.SALLYPORT_PUBLIC_URL ?? `http://${urlHost}:${port}`;

  let pg: EmbeddedPostgres | undefined;
  let idp: DevIdp | undefined;
  try {
    if (!env.DATABASE_URL) pg = await startEmbeddedPostgres(join(dataDir, 'pgdata'));
    idp = await startDevIdp({
      host: urlHost,
      port: env.SALLYPORT_DEV_IDP_PORT ? Number(env.SALLYPORT_DEV_IDP_PORT) : env.PORT === '0' ? 0 : port + 1,
      brokerUrl: publicUrl,
      clientId: DEV_CLIENT_ID,
      clientSecret: state.clientSecret,
      users,
      signingKey: state.signingKey,
      cookieKeys: [state.cookieKey],
    });
    const config = loadConfig(
      {
        ...env,
        HOST: host,
        PORT: String(port),
        DATABASE_URL: env.DATABASE_URL ?? pg!.url,
        SALLYPORT_DATABASE_POOL_SIZE: pg ? '1' : env.SALLYPORT_DATABASE_POOL_SIZE,
        SALLYPORT_PUBLIC_URL: publicUrl,
        SALLYPORT_OIDC_ISSUER: idp.issuer,
        SALLYPORT_OIDC_CLIENT_ID: DEV_CLIENT_ID,
        SALLYPORT_OIDC_CLIENT_SECRET: state.clientSecret,
        SALLYPORT_SESSION_SECRET: state.sessionSecret,
        SALLYPORT_SIGNING_KEY: JSON.stringify(state.evidenceKey),
        // Beside the key and the embedded database it belongs to (a DATABASE_URL of the user's
        // own may be another database each time: then only memory).
        SALLYPORT_CHECKPOINT_STATE: env.SALLYPORT_CHECKPOINT_STATE ?? (pg ? join(dataDir, 'checkpoint-state.json') : undefined),
        SALLYPORT_SSH_CA_KEY: env.SALLYPORT_SSH_CA_KEY ?? state.sshCaKey,
        SALLYPORT_SSH_HOST_KEY: env.SALLYPORT_SSH_HOST_KEY ?? state.sshHostKey,
        // The README's `ssh -p 2222 shell@127.0.0.1`; tests (PORT=0) take a free port instead.
        SALLYPORT_SSH_LISTEN: env.SALLYPORT_SSH_LISTEN ?? `${host.includes(':') ? `[${host}]` : host}:${env.PORT === '0' ? 0 : 2222}`,
        SALLYPORT_CATALOG: env.SALLYPORT_CATALOG ?? DEMO_CATALOG,
      },
      'dev',
    );
    buildDemoImages((line) => process.stdout.write(`  ${line}\n`));
    // PGlite serves one connection: no dedicated LISTEN connection there.
    const broker = await startBroker(config, { env, listen: !pg });
    const devIdp = idp;
    const embedded = pg;
    process.stdout.write(banner(publicUrl, idp.issuer, users, dataDir, !!pg, broker.sshPort));
    return {
      broker,
      idp: devIdp,
      users,
      dataDir,
      async close() {
        await broker.close();
        await devIdp.close();
        await embedded?.close();
        unlock();
      },
    };
  } catch (err) {
    await idp?.close().catch(() => {});
    await pg?.close().catch(() => {});
    unlock();
    throw err;
  }
}

/**
 * One dev instance per data directory: two would share one PGlite directory (which corrupts it)
 * and one dev state. A lock file holds the owner's pid; one left by a process that is gone (a
 * SIGKILL) is taken over. Returns the release.
 */
function lockDataDir(dataDir: string): () => void {
  const file = join(dataDir, 'dev.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
      const release = () => rmSync(file, { force: true });
      // However the process ends (a failing close, process.exit), the lock goes with it.
      process.once('exit', release);
      return release;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number(readFileSync(file, 'utf8').trim());
      if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && alive(owner)) {
        throw new SallyportError('CONFIG_INVALID', `another sallyport dev (pid ${owner}) is using ${dataDir}: stop it first, or give this one its own SALLYPORT_DEV_DIR`);
      }
      rmSync(file, { force: true });
    }
  }
  throw new SallyportError('CONFIG_INVALID', `cannot lock ${dataDir} for sallyport dev`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Builds the demo catalogue's images on the local Docker engine, from Debian packages on this
 * machine (busybox-static; php-cli for the PHP console; ruby-rails and ruby-sqlite3 for the Rails
 * console; each script says what to install when its package is missing). Best effort and in the background:
 * without Docker, consoles say clearly that the engine is unreachable.
 */
function buildDemoImages(say: (line: string) => void): void {
  const build = (script: string, name: string) =>
    new Promise<void>((resolve) => {
      execFile('bash', [join(PACKAGE_ROOT, 'images', script), name], { timeout: 120_000 }, (err, stdout, stderr) => {
        if (err) say(`demo image ${name} not built: ${(stderr || err.message).trim().split('\n').at(-1)}`);
        else say(`demo image ready: ${stdout.trim()}`);
        resolve();
      });
    });
  execFile('docker', ['info', '--format', '{{.ServerVersion}}'], { timeout: 5000 }, (err) => {
    if (err) {
      say('Docker engine not reachable: the demo consoles will report it when opened (start dockerd to use them)');
      return;
    }
    void build('build-busybox.sh', 'sallyport-demo/shell')
      .then(() => build('build-php.sh', 'sallyport-demo/php'))
      .then(() => build('build-rails.sh', 'sallyport-demo/rails'));
  });
}

async function loadOrCreateState(file: string): Promise<DevState> {
  if (existsSync(file)) {
    const state = JSON.parse(readFileSync(file, 'utf8')) as DevState;
    if (!state.evidenceKey || !state.sshCaKey || !state.sshHostKey) {
      state.evidenceKey ??= await generateSigningKey(`dev-evidence-${randomBytes(6).toString('hex')}`);
      state.sshCaKey ??= encodePrivateKeyFile(generateEd25519(), 'sallyport-dev-user-ca');
      state.sshHostKey ??= encodePrivateKeyFile(generateEd25519(), 'sallyport-dev-host');
      writeFileSync(file, JSON.stringify(state, null, 2), { mode: 0o600 });
    }
    return state;
  }
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const signingKey = { ...(await exportJWK(privateKey)), kid: 'dev-1', alg: 'RS256', use: 'sig' } as JWK;
  const state: DevState = {
    sessionSecret: randomPassword() + randomPassword() + randomPassword(),
    clientSecret: randomPassword() + randomPassword(),
    cookieKey: randomPassword() + randomPassword(),
    signingKey,
    // A kid of its own: two dev setups must never sign with different keys under the same id.
    evidenceKey: await generateSigningKey(`dev-evidence-${randomBytes(6).toString('hex')}`),
    passwords: Object.fromEntries(DEMO_USERS.map((u) => [u.username, randomPassword()])),
    sshCaKey: encodePrivateKeyFile(generateEd25519(), 'sallyport-dev-user-ca'),
    sshHostKey: encodePrivateKeyFile(generateEd25519(), 'sallyport-dev-host'),
  };
  writeFileSync(file, JSON.stringify(state, null, 2), { mode: 0o600 });
  return state;
}

function banner(url: string, issuer: string, users: DevUser[], dataDir: string, embedded: boolean, sshPort: number | undefined): string {
  const rows = users.map((u) => `    ${u.username.padEnd(6)} ${u.password.padEnd(18)} ${u.groups.join(', ')}`).join('\n');
  return `
  Sallyport is running in DEV MODE (not for production)

    open       ${url}
    dev IdP    ${issuer}
${sshPort === undefined ? '' : `    ssh        ssh -t -p ${sshPort} shell@${new URL(url).hostname}\n`}    database   ${embedded ? `embedded PGlite in ${join(dataDir, 'pgdata')}` : 'DATABASE_URL'}

  demo users (user / password / groups):
${rows}

`;
}
