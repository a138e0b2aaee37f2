// The broker image built without a registry (docs/operations.md, "Air-gapped sites"): the shell
// block there is run as written in a clean copy of this checkout (its build writes dist/ there,
// not under the running suite), with a site CA and secrets made as an operator would. Then the
// image it built is run as docker-compose.yml runs it — read-only, every capability dropped,
// no-new-privileges, secrets mounted — against this test's database and IdP: it says its
// version, has no shell, refuses secrets its user cannot read (naming the file), starts when they
// are readable, and trusts the site's CA for https.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../server/dev/index.js';
import { PACKAGE_ROOT } from '../server/paths.js';
import { copyCheckout } from './support/checkout.js';
import { startTestBroker, type TestBroker } from './support/broker.js';
import { startPgCluster, type PgCluster } from './support/pg-cluster.js';
import { waitFor } from './support/process.js';

const dir = mkdtempSync(join(tmpdir(), 'sallyport-image-'));
const tag = `sallyport-test-image:${randomBytes(4).toString('hex')}`;
const containers: string[] = [];
let h: TestBroker;
let pg: PgCluster;
let https: Server;
let httpsPort: number;

/** The first shell block under "**Air-gapped sites.**" in docs/operations.md. */
function recipe(): string {
  const doc = readFileSync(join(PACKAGE_ROOT, 'docs', 'operations.md'), 'utf8');
  const m = /```sh\n([\s\S]*?)```/.exec(doc.slice(doc.indexOf('**Air-gapped sites.**')));
  if (!m) throw new Error('no shell block under "Air-gapped sites" in docs/operations.md');
  return m[1]!;
}

const docker = (args: string[]) => spawnSync('docker', args, { encoding: 'utf8' });

beforeAll(async () => {
  // A PostgreSQL on loopback TCP (the suite's own server is reached by its socket as root).
  pg = await startPgCluster();
  h = await startTestBroker({}, { database: { name: 'postgres', url: pg.url, drop: async () => {} } });
  // The site's CA, and an https server it signed (the IdP or a webhook, say).
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'site-ca.pem', '-days', '2', '-subj', '/CN=site test CA');
  openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1');
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1\n');
  openssl('x509', '-req', '-in', 'server.csr', '-CA', 'site-ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'server.ext');
  https = createServer({ key: readFileSync(join(dir, 'server.key')), cert: readFileSync(join(dir, 'server.pem')) }, (_req, res) => res.end('site-internal-ok'));
  httpsPort = await freePort();
  await new Promise<void>((r) => https.listen(httpsPort, '127.0.0.1', r));
}, 60_000);
afterAll(async () => {
  for (const c of containers) docker(['rm', '-f', c]);
  docker(['image', 'rm', '-f', tag]);
  https?.close();
  await h?.close();
  pg?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

describe('the broker image built without a registry', () => {
  it('builds from the docs as written, runs read-only as uid 1000 with no shell, reads only secrets it may, and trusts the site CA', { timeout: 300_000 }, async () => {
    // A clean copy of the checkout: what an operator has on the build machine.
    const src = join(dir, 'src');
    copyCheckout(src);
    cpSync(join(dir, 'site-ca.pem'), join(src, 'site-ca.pem'));
    // The secrets, as the compose recipe makes them (root-owned, as root makes files).
    const secrets = join(src, 'secrets');
    mkdirSync(join(secrets, 'docker'), { recursive: true });
    writeFileSync(join(secrets, 'database_url'), pg.url);
    writeFileSync(join(secrets, 'session_secret'), randomBytes(32).toString('hex'));
    writeFileSync(join(secrets, 'oidc_client_secret'), h.config.oidc.clientSecret);
    writeFileSync(join(secrets, 'signing_key'), JSON.stringify(h.config.signing.key));
    writeFileSync(join(secrets, 'docker', 'ca.pem'), readFileSync(join(dir, 'site-ca.pem')));
    for (const f of ['database_url', 'session_secret', 'oidc_client_secret', 'signing_key']) chmodSync(join(secrets, f), 0o600);
    const catalog = join(src, 'catalog.yaml');
    cpSync(join(PACKAGE_ROOT, 'docs', 'catalog.example.yaml'), catalog);

    // The image's build line, as written (tagged for this test).
    const [build, permissions] = recipe().split('\n').filter((l) => l.trim() && !l.startsWith('#'));
    const built = spawnSync('bash', ['-euo', 'pipefail', '-c', `${build!.replace(/\s+#.*$/, '')} --tag ${tag}`], { cwd: src, encoding: 'utf8', env: { PATH: process.env.PATH, HOME: process.env.HOME } });
    expect(built.status, built.stderr).toBe(0);
    expect(built.stdout.trim()).toBe(tag);

    const version = (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    expect(docker(['run', '--rm', tag, '--version']).stdout).toBe(`sallyport ${version}\n`);
    const config = JSON.parse(docker(['image', 'inspect', tag]).stdout)[0].Config as { User: string; Env: string[]; Entrypoint: string[] };
    expect(config.User).toBe('1000:1000');
    expect(config.Env).toContain('NODE_EXTRA_CA_CERTS=/etc/sallyport/site-ca.pem');
    // No shell for whoever takes over the process.
    expect(docker(['run', '--rm', '--entrypoint', '/bin/sh', tag, '-c', 'true']).status).not.toBe(0);
    // The site's CA is trusted for https; a server it did not sign would not be.
    // (Asynchronously: the https server is in this process.)
    const fetched = await new Promise<string>((resolve) => {
      const p = spawn('docker', ['run', '--rm', '--network', 'host', '--entrypoint', 'node', tag, '-e', `fetch('https://127.0.0.1:${httpsPort}/').then(r => r.text()).then(t => console.log(t), e => { console.log(String(e.cause?.code)); process.exit(1); })`]);
      let out = '';
      p.stdout.on('data', (d: Buffer) => (out += d));
      p.on('close', () => resolve(out.trim()));
    });
    expect(fetched).toBe('site-internal-ok');

    // Run as compose runs it, against this test's database and IdP (host network: loopback only).
    const port = await freePort();
    const run = (name: string) => {
      containers.push(name);
      return docker([
        'run', '-d', '--name', name, '--network', 'host', '--read-only', '--tmpfs', '/tmp:size=16m', '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges:true',
        '-v', `${secrets}:/run/secrets:ro`, '-v', `${catalog}:/etc/sallyport/catalog.yaml:ro`,
        '-e', 'DATABASE_URL_FILE=/run/secrets/database_url', '-e', 'SALLYPORT_SESSION_SECRET_FILE=/run/secrets/session_secret',
        '-e', 'SALLYPORT_OIDC_CLIENT_SECRET_FILE=/run/secrets/oidc_client_secret', '-e', 'SALLYPORT_SIGNING_KEY_FILE=/run/secrets/signing_key',
        '-e', `SALLYPORT_PUBLIC_URL=http://127.0.0.1:${port}`, '-e', `SALLYPORT_OIDC_ISSUER=${h.idp.issuer}`, '-e', `SALLYPORT_OIDC_CLIENT_ID=${h.config.oidc.clientId}`,
        '-e', 'SALLYPORT_CATALOG=/etc/sallyport/catalog.yaml', '-e', 'HOST=127.0.0.1', '-e', `PORT=${port}`, '-e', 'SALLYPORT_LOG_LEVEL=warn', '-e', 'SALLYPORT_BROKER_PREFIX=image',
        tag,
      ]);
    };
    // Secrets only root may read: the broker names what it cannot read and stops.
    expect(run(`sallyport-image-a-${randomBytes(3).toString('hex')}`).status).toBe(0);
    const refused = await waitFor('the broker to stop', async () => {
      const s = JSON.parse(docker(['inspect', containers[0]!]).stdout)[0].State as { Running: boolean; ExitCode: number };
      return s.Running ? undefined : s;
    }, 60_000);
    expect(refused.ExitCode).not.toBe(0);
    expect(docker(['logs', containers[0]!]).stderr).toMatch(/DATABASE_URL_FILE.*\/run\/secrets\/database_url.*(permission denied|EACCES|cannot read)/i);

    // The recipe's permissions line, as written: then it starts and answers.
    const fixed = spawnSync('bash', ['-euo', 'pipefail', '-c', permissions!], { cwd: src, encoding: 'utf8' });
    expect(fixed.status, fixed.stderr).toBe(0);
    expect(run(`sallyport-image-b-${randomBytes(3).toString('hex')}`).status).toBe(0);
    const ready = await waitFor('the image to serve', async () => ((await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => null))?.status === 200 ? true : undefined), 60_000).catch(
      () => docker(['logs', containers[1]!]).stderr,
    );
    expect(ready).toBe(true);
    // It is the image that answered: its broker row, with the release's version.
    const row = (await h.broker.db.query(`select version from brokers where id like 'image-%' and stopped_at is null`)).rows;
    expect(row).toEqual([{ version }]);
  });
});
