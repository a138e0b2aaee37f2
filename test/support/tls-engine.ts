// A Docker engine reached over TLS, as a remote engine is (DOCKER_HOST=tcp://…:2376 with
// --tlsverify): this machine's real dockerd behind a TLS end of the test's own, which admits only
// clients with a certificate from the test's CA. (A second dockerd with --tlsverify would need
// its own data root and images.) Certificates are made with openssl, as Docker's guide does.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:tls';

export interface TlsEngine {
  port: number;
  /** Connections admitted so far (a client with a good certificate). */
  admitted(): number;
  /** A DOCKER_CERT_PATH directory (ca.pem, cert.pem, key.pem): the CA of `caOf`, the client pair of `clientOf`. */
  certPath(caOf: 'good' | 'rogue', clientOf: 'good' | 'rogue'): string;
  close(): void;
}

export async function startTlsEngine(): Promise<TlsEngine> {
  const dir = mkdtempSync(join(tmpdir(), 'sallyport-docker-tls-'));
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  /** A CA, and a certificate it signs (server: for 127.0.0.1; client: for the broker). */
  const pki = (name: string) => {
    openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}-ca.key`, '-out', `${name}-ca.pem`, '-days', '2', '-subj', `/CN=${name} test CA`);
    for (const [who, ext] of [['server', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth'], ['client', 'extendedKeyUsage=clientAuth']] as const) {
      writeFileSync(join(dir, `${name}-${who}.ext`), `${ext}\n`);
      openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}-${who}.key`, '-out', `${name}-${who}.csr`, '-subj', `/CN=${name} ${who}`);
      openssl('x509', '-req', '-in', `${name}-${who}.csr`, '-CA', `${name}-ca.pem`, '-CAkey', `${name}-ca.key`, '-CAcreateserial', '-out', `${name}-${who}.pem`, '-days', '2', '-extfile', `${name}-${who}.ext`);
    }
  };
  pki('good');
  pki('rogue');
  const read = (f: string) => readFileSync(join(dir, f));
  let admitted = 0;
  const server = createServer({ key: read('good-server.key'), cert: read('good-server.pem'), ca: read('good-ca.pem'), requestCert: true, rejectUnauthorized: true }, (tlsSocket) => {
    admitted++;
    const up = connect('/var/run/docker.sock');
    tlsSocket.pipe(up).pipe(tlsSocket);
    const close = () => (tlsSocket.destroy(), up.destroy());
    tlsSocket.on('error', close);
    up.on('error', close);
  });
  server.on('tlsClientError', () => {});
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as { port: number }).port,
    admitted: () => admitted,
    certPath(caOf, clientOf) {
      const p = join(dir, `certs-${caOf}-${clientOf}`);
      mkdirSync(p, { recursive: true });
      writeFileSync(join(p, 'ca.pem'), read(`${caOf}-ca.pem`));
      writeFileSync(join(p, 'cert.pem'), read(`${clientOf}-client.pem`));
      writeFileSync(join(p, 'key.pem'), read(`${clientOf}-client.key`));
      return p;
    },
    close: () => server.close(),
  };
}
