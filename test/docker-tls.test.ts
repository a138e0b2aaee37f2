// A remote Docker engine over TLS, as docker-compose deployments reach one (DOCKER_HOST=tcp://…:2376,
// DOCKER_TLS_VERIFY=1, DOCKER_CERT_PATH): the broker verifies the engine against the CA and
// presents its own client certificate. The engine is this machine's real dockerd; the TLS end in
// front of its socket is the test's (a second dockerd with --tlsverify would need its own data
// root and images), and it admits only clients with a certificate from the test's CA. How the
// variables are read and refused is config.test.ts's.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Server } from 'node:tls';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createDockerRuntime } from '../server/runtime/index.js';
import { Browser, startTestBroker, type TestBroker } from './support/broker.js';
import { connectConsole, PROMPT } from './support/console-client.js';
import { writeConsoleCatalog } from './support/console-catalog.js';

const dir = mkdtempSync(join(tmpdir(), 'sallyport-docker-tls-'));
const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });

/** A CA, and a certificate it signs (server: for 127.0.0.1; client: for the broker). */
function pki(name: string): void {
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}-ca.key`, '-out', `${name}-ca.pem`, '-days', '2', '-subj', `/CN=${name} test CA`);
  for (const [who, ext] of [['server', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth'], ['client', 'extendedKeyUsage=clientAuth']] as const) {
    writeFileSync(join(dir, `${name}-${who}.ext`), `${ext}\n`);
    openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}-${who}.key`, '-out', `${name}-${who}.csr`, '-subj', `/CN=${name} ${who}`);
    openssl('x509', '-req', '-in', `${name}-${who}.csr`, '-CA', `${name}-ca.pem`, '-CAkey', `${name}-ca.key`, '-CAcreateserial', '-out', `${name}-${who}.pem`, '-days', '2', '-extfile', `${name}-${who}.ext`);
  }
}

/** A DOCKER_CERT_PATH directory: the CA to verify the engine with, and the client's pair. */
function certPath(caOf: string, clientOf: string): string {
  const p = join(dir, `certs-${caOf}-${clientOf}`);
  mkdirSync(p, { recursive: true });
  writeFileSync(join(p, 'ca.pem'), readFileSync(join(dir, `${caOf}-ca.pem`)));
  writeFileSync(join(p, 'cert.pem'), readFileSync(join(dir, `${clientOf}-client.pem`)));
  writeFileSync(join(p, 'key.pem'), readFileSync(join(dir, `${clientOf}-client.key`)));
  return p;
}

let engine: Server;
let port: number;
let admitted = 0;
let t: TestBroker;

beforeAll(async () => {
  pki('good');
  pki('rogue');
  const read = (f: string) => readFileSync(join(dir, f));
  engine = createServer({ key: read('good-server.key'), cert: read('good-server.pem'), ca: read('good-ca.pem'), requestCert: true, rejectUnauthorized: true }, (tlsSocket) => {
    admitted++;
    const up = connect('/var/run/docker.sock');
    tlsSocket.pipe(up).pipe(tlsSocket);
    const close = () => (tlsSocket.destroy(), up.destroy());
    tlsSocket.on('error', close);
    up.on('error', close);
  });
  engine.on('tlsClientError', () => {});
  await new Promise<void>((r) => engine.listen(0, '127.0.0.1', r));
  port = (engine.address() as { port: number }).port;
  t = await startTestBroker({
    SALLYPORT_CATALOG: writeConsoleCatalog(inject('consoleImage')),
    CONSOLE_GREETING: 'x',
    DOCKER_HOST: `tcp://127.0.0.1:${port}`,
    DOCKER_TLS_VERIFY: '1',
    DOCKER_CERT_PATH: certPath('good', 'good'),
  });
});
afterAll(async () => {
  await t?.close();
  engine?.close();
});

describe('a remote engine over TLS', () => {
  it('runs a console through it, with the broker’s client certificate', async () => {
    const b = new Browser();
    await t.login(b, 'alice');
    const before = admitted;
    const c = await connectConsole(t.url, 'shell', { cookie: `sallyport=${b.cookies(t.url).get('sallyport')}` });
    await c.waitFor(PROMPT);
    c.type('echo over-tls-$((40+2))\n');
    await c.waitFor(/over-tls-42/);
    c.type('exit\n');
    expect((await c.closed).reason).toMatch(/exited/);
    expect(admitted).toBeGreaterThan(before);
  });

  it('refuses an engine its CA did not sign, and is refused without the engine’s client certificate', async () => {
    const tls = (p: string) => ({ ca: readFileSync(join(p, 'ca.pem'), 'utf8'), cert: readFileSync(join(p, 'cert.pem'), 'utf8'), key: readFileSync(join(p, 'key.pem'), 'utf8') });
    for (const p of [certPath('rogue', 'good'), certPath('good', 'rogue')]) {
      const runtime = createDockerRuntime({ dockerHost: `tcp://127.0.0.1:${port}`, dockerTls: tls(p), timeoutMs: 3000 });
      await expect(runtime.list()).rejects.toMatchObject({ code: 'RUNTIME_UNAVAILABLE' });
    }
  });
});
