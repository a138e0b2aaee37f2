// Configuration: production refuses to start on a bad environment and names every problem
// at once; secrets may come from files; dev mode passes its defaults through the same checks.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../server/config/index.js';
import { SallyportError } from '../server/errors.js';
import { testSigningKey } from './support/signing-key.js';
import { encodePrivateKeyFile, generateEd25519, publicKeyLine } from '../server/signing/index.js';

const good = {
  DATABASE_URL: 'postgres://sallyport@db.internal/sallyport',
  SALLYPORT_PUBLIC_URL: 'https://sallyport.example.com',
  SALLYPORT_OIDC_ISSUER: 'https://idp.example.com/realms/main',
  SALLYPORT_OIDC_CLIENT_ID: 'sallyport',
  SALLYPORT_OIDC_CLIENT_SECRET: 'client-secret-value',
  SALLYPORT_SESSION_SECRET: 'x'.repeat(48),
  SALLYPORT_CATALOG: '/etc/sallyport/catalog.yaml',
  SALLYPORT_SIGNING_KEY: testSigningKey('k1'),
};

function problems(env: Record<string, string | undefined>, mode: 'production' | 'dev' = 'production') {
  try {
    loadConfig(env, mode);
  } catch (err) {
    expect(err).toBeInstanceOf(SallyportError);
    expect((err as SallyportError).code).toBe('CONFIG_INVALID');
    return Object.fromEntries((err as SallyportError).problems.map((p) => [p.field, p.message]));
  }
  throw new Error('expected CONFIG_INVALID');
}

describe('loadConfig', () => {
  it('accepts a complete production environment with sensible defaults', () => {
    const c = loadConfig(good, 'production');
    expect(c).toMatchObject({
      mode: 'production',
      port: 8080,
      host: '0.0.0.0',
      publicUrl: 'https://sallyport.example.com',
      requireImageDigest: true,
      oidc: { groupsClaim: 'groups', idTokenAlg: 'RS256', allowHttpIssuer: false },
      roles: { developer: ['developers'], approver: ['approvers'], auditor: ['auditors'], admin: ['admins'] },
      session: { cookieSecure: true, idleTimeoutSeconds: 1800, absoluteTimeoutSeconds: 43200 },
    });
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.roles.developer)).toBe(true);
  });

  it('reads the re-authentication window and the webhook, and refuses bad ones by name', () => {
    const c = loadConfig({ ...good, SALLYPORT_REAUTH_MAX_AGE: '2m', SALLYPORT_WEBHOOK_URL: 'https://hooks.slack.example/services/T0/B0/x?y=1', SALLYPORT_WEBHOOK_FORMAT: 'slack' }, 'production');
    expect(c.access.reauthMaxAgeSeconds).toBe(120);
    expect(c.webhook).toEqual({ url: 'https://hooks.slack.example/services/T0/B0/x?y=1', format: 'slack', checkpoints: false });
    expect(loadConfig({ ...good, SALLYPORT_WEBHOOK_URL: 'https://hooks.example.com/x', SALLYPORT_WEBHOOK_CHECKPOINTS: 'true' }, 'production').webhook?.checkpoints).toBe(true);
    expect(problems({ ...good, SALLYPORT_WEBHOOK_URL: 'https://hooks.example.com/x', SALLYPORT_WEBHOOK_CHECKPOINTS: 'yes' }).SALLYPORT_WEBHOOK_CHECKPOINTS).toMatch(/true or false/);
    expect(loadConfig(good, 'production')).toMatchObject({ access: { reauthMaxAgeSeconds: 300 }, webhook: undefined });
    const p = problems({ ...good, SALLYPORT_REAUTH_MAX_AGE: '2h', SALLYPORT_WEBHOOK_URL: 'http://hooks.example.com/x', SALLYPORT_WEBHOOK_FORMAT: 'xml' });
    expect(p.SALLYPORT_REAUTH_MAX_AGE).toMatch(/at most 1h/);
    expect(p.SALLYPORT_WEBHOOK_URL).toMatch(/https/);
    expect(p.SALLYPORT_WEBHOOK_FORMAT).toMatch(/json or slack/);
    // A bad value never echoes the URL's secret part back.
    expect(JSON.stringify(problems({ ...good, SALLYPORT_WEBHOOK_URL: 'https://u:secret-token@hooks.example.com/x' }))).not.toContain('secret-token');
    expect(JSON.stringify(problems({ ...good, SALLYPORT_WEBHOOK_URL: 'hooks.example.com/secret-token' }))).not.toContain('secret-token');
    expect(problems({ ...good, SALLYPORT_WEBHOOK_FORMAT: 'json' }).SALLYPORT_WEBHOOK_FORMAT).toMatch(/SALLYPORT_WEBHOOK_URL is not/);
  });

  it('gives each process its own broker instance: a readable prefix and a lease, never a fixed id', () => {
    expect(loadConfig(good, 'production').broker).toEqual({ prefix: 'b', leaseSeconds: 30, drainSeconds: 30 });
    expect(loadConfig({ ...good, SALLYPORT_BROKER_PREFIX: 'eu-1', SALLYPORT_BROKER_LEASE_SECONDS: '10', SALLYPORT_DRAIN_SECONDS: '0' }, 'production').broker).toEqual({ prefix: 'eu-1', leaseSeconds: 10, drainSeconds: 0 });
    expect(problems({ ...good, SALLYPORT_DRAIN_SECONDS: 'soon' }).SALLYPORT_DRAIN_SECONDS).toMatch(/must be a duration/);
    // A fixed id shared by two processes let one reap the other's consoles.
    expect(problems({ ...good, SALLYPORT_BROKER_ID: 'web-1' }).SALLYPORT_BROKER_ID).toMatch(/no longer used.*SALLYPORT_BROKER_PREFIX/);
    const p = problems({ ...good, SALLYPORT_BROKER_PREFIX: '-bad prefix', SALLYPORT_BROKER_LEASE_SECONDS: '1' });
    expect(p.SALLYPORT_BROKER_PREFIX).toMatch(/letters, digits/);
    expect(p.SALLYPORT_BROKER_LEASE_SECONDS).toMatch(/from 3 to 3600/);
  });

  it('caps live consoles per user and in all, reads the reattach grace, and names a bad value', () => {
    expect(loadConfig(good, 'production').consoles).toEqual({ maxPerUser: 5, maxTotal: 300, inputBytesPerSecond: 262144, reattachSeconds: 60 });
    expect(loadConfig({ ...good, SALLYPORT_REATTACH_SECONDS: '0' }, 'production').consoles.reattachSeconds).toBe(0);
    const p = problems({ ...good, SALLYPORT_MAX_CONSOLES_PER_USER: '0', SALLYPORT_MAX_CONSOLES: 'many', SALLYPORT_CONSOLE_INPUT_BYTES_PER_SECOND: '100', SALLYPORT_REATTACH_SECONDS: '2h' });
    expect(p.SALLYPORT_REATTACH_SECONDS).toMatch(/from 0 to 3600/);
    expect(p.SALLYPORT_MAX_CONSOLES_PER_USER).toMatch(/from 1 to 1000/);
    expect(p.SALLYPORT_MAX_CONSOLES).toMatch(/from 1 to 100000/);
    expect(p.SALLYPORT_CONSOLE_INPUT_BYTES_PER_SECOND).toMatch(/from 1024 to 67108864/);
  });

  it('reads a TLS engine as the docker CLI does, and refuses a network engine without TLS in production', () => {
    const noTls = problems({ ...good, DOCKER_HOST: 'tcp://10.0.0.5:2375' });
    expect(noTls.DOCKER_HOST).toMatch(/is a network engine without TLS/);
    expect(problems({ ...good, DOCKER_HOST: 'tcp://10.0.0.5:2376', DOCKER_TLS_VERIFY: '1' }).DOCKER_CERT_PATH).toMatch(/is required with DOCKER_TLS_VERIFY=1/);
    const empty = mkdtempSync(join(tmpdir(), 'sallyport-no-certs-'));
    expect(problems({ ...good, DOCKER_HOST: 'tcp://10.0.0.5:2376', DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: empty }).DOCKER_CERT_PATH).toMatch(/cannot read .*\.pem \(ENOENT\)/);
    expect(problems({ ...good, DOCKER_CERT_PATH: empty }).DOCKER_CERT_PATH).toMatch(/DOCKER_TLS_VERIFY is not 1/);
    // On this machine's loopback, or in dev mode, a plain engine is allowed.
    expect(loadConfig({ ...good, DOCKER_HOST: 'tcp://127.0.0.1:2375' }, 'production').runtime.dockerTls).toBeUndefined();
  });

  it('reads the SSH CA for fleet nodes, its previous public keys and the certificate settings, and names bad ones', () => {
    expect(loadConfig(good, 'production').fleet).toEqual({ ca: { key: undefined, publicKeys: [] }, sourceAddresses: undefined, certificateSeconds: 60, connectTimeoutSeconds: 10 });
    const ca = generateEd25519();
    const previous = generateEd25519();
    const c = loadConfig(
      { ...good, SALLYPORT_SSH_CA_KEY: encodePrivateKeyFile(ca, 'x'), SALLYPORT_SSH_CA_PREVIOUS_KEYS: `${publicKeyLine(previous.publicKey, 'old')}\n`, SALLYPORT_SSH_SOURCE_ADDRESSES: '10.0.0.10,10.0.1.0/24' },
      'production',
    );
    expect(c.fleet.ca.publicKeys).toEqual([publicKeyLine(ca.publicKey, 'sallyport-user-ca'), publicKeyLine(previous.publicKey, 'sallyport-user-ca-previous')]);
    expect(c.fleet.sourceAddresses).toEqual(['10.0.0.10', '10.0.1.0/24']);
    const secret = encodePrivateKeyFile(ca, 'x');
    const p = problems({
      ...good,
      SALLYPORT_SSH_CA_KEY: secret.replace('OPENSSH PRIVATE KEY', 'RSA PRIVATE KEY'),
      SALLYPORT_SSH_CA_PREVIOUS_KEYS: 'ssh-rsa AAAA',
      SALLYPORT_SSH_SOURCE_ADDRESSES: 'broker.example.com',
      SALLYPORT_SSH_CERTIFICATE_SECONDS: '3600',
    });
    expect(p.SALLYPORT_SSH_CA_KEY).toMatch(/must be an OpenSSH private key .*sallyport ssh-ca new/);
    expect(p['SALLYPORT_SSH_CA_PREVIOUS_KEYS[0]']).toMatch(/key type must be one of ssh-ed25519/);
    expect(p.SALLYPORT_SSH_SOURCE_ADDRESSES).toMatch(/"broker.example.com" is not an IP address or CIDR/);
    expect(p.SALLYPORT_SSH_CERTIFICATE_SECONDS).toMatch(/from 10 to 600/);
    expect(JSON.stringify(p)).not.toContain(secret.split('\n')[1]!.slice(0, 30));
  });

  it('reads the SSH front door: off unless asked for, needs a host key, and names bad values', () => {
    expect(loadConfig(good, 'production').sshDoor).toEqual({ listen: undefined, hostKey: undefined, loginSeconds: 300, approvalWaitSeconds: 900, unauthenticatedPerAddress: 10, unauthenticatedTotal: 256, handshakeSeconds: 20, keyLoginHours: 12 });
    const hostKey = encodePrivateKeyFile(generateEd25519(), 'host');
    expect(loadConfig({ ...good, SALLYPORT_SSH_LISTEN: '[::]:2222', SALLYPORT_SSH_HOST_KEY: hostKey }, 'production').sshDoor.listen).toEqual({ host: '::', port: 2222 });
    expect(loadConfig({ ...good, SALLYPORT_SSH_LISTEN: '0.0.0.0:22', SALLYPORT_SSH_HOST_KEY: hostKey, SALLYPORT_SSH_LOGIN_TIMEOUT: '2m' }, 'production').sshDoor).toMatchObject({
      listen: { host: '0.0.0.0', port: 22 },
      loginSeconds: 120,
    });
    expect(problems({ ...good, SALLYPORT_SSH_LISTEN: '0.0.0.0:2222' }).SALLYPORT_SSH_HOST_KEY).toMatch(/required when SALLYPORT_SSH_LISTEN is set/);
    const p = problems({ ...good, SALLYPORT_SSH_LISTEN: '2222', SALLYPORT_SSH_HOST_KEY: hostKey.replace('OPENSSH', 'DSA'), SALLYPORT_SSH_LOGIN_TIMEOUT: '2h' });
    expect(p.SALLYPORT_SSH_LISTEN).toMatch(/must be host:port/);
    expect(p.SALLYPORT_SSH_HOST_KEY).toMatch(/must be an OpenSSH private key/);
    expect(p.SALLYPORT_SSH_LOGIN_TIMEOUT).toMatch(/from 10s to 30m/);
    expect(problems({ ...good, SALLYPORT_SSH_KEY_LOGIN_HOURS: '200' }).SALLYPORT_SSH_KEY_LOGIN_HOURS).toMatch(/from 0 to 168/);
    expect(loadConfig({ ...good, SALLYPORT_SSH_KEY_LOGIN_HOURS: '0' }, 'production').sshDoor.keyLoginHours).toBe(0);
    expect(JSON.stringify(p)).not.toContain(hostKey.split('\n')[1]!.slice(0, 30));
  });

  it('names every missing variable in one error', () => {
    const p = problems({});
    expect(Object.keys(p).sort()).toEqual(
      [
        'DATABASE_URL',
        'SALLYPORT_CATALOG',
        'SALLYPORT_OIDC_CLIENT_ID',
        'SALLYPORT_OIDC_CLIENT_SECRET',
        'SALLYPORT_OIDC_ISSUER',
        'SALLYPORT_PUBLIC_URL',
        'SALLYPORT_SESSION_SECRET',
        'SALLYPORT_SIGNING_KEY',
      ].sort(),
    );
    expect(p.SALLYPORT_SESSION_SECRET).toMatch(/required.*_FILE/);
  });

  it('names every malformed variable in one error', () => {
    const p = problems({
      ...good,
      PORT: 'eighty',
      DATABASE_URL: 'mysql://nope',
      SALLYPORT_PUBLIC_URL: 'http://sallyport.example.com',
      SALLYPORT_OIDC_ISSUER: 'not a url',
      SALLYPORT_SESSION_SECRET: 'short',
      SALLYPORT_SESSION_IDLE_TIMEOUT: 'forever',
      SALLYPORT_OIDC_ID_TOKEN_ALG: 'HS256',
      SALLYPORT_OIDC_SCOPES: 'profile,email',
      SALLYPORT_LOG_LEVEL: 'loud',
      SALLYPORT_ROLE_ADMIN_GROUPS: ' , ',
    });
    expect(p).toMatchObject({
      PORT: expect.stringMatching(/integer/),
      DATABASE_URL: expect.stringMatching(/postgres/),
      SALLYPORT_PUBLIC_URL: expect.stringMatching(/https/),
      SALLYPORT_OIDC_ISSUER: expect.stringMatching(/absolute URL/),
      SALLYPORT_SESSION_SECRET: expect.stringMatching(/32/),
      SALLYPORT_SESSION_IDLE_TIMEOUT: expect.stringMatching(/duration/),
      SALLYPORT_OIDC_ID_TOKEN_ALG: expect.stringMatching(/none are refused/),
      SALLYPORT_OIDC_SCOPES: expect.stringMatching(/openid/),
      SALLYPORT_LOG_LEVEL: expect.stringMatching(/one of/),
      SALLYPORT_ROLE_ADMIN_GROUPS: expect.stringMatching(/at least one/),
    });
    expect(Object.keys(p)).toHaveLength(10);
  });

  it('refuses a public URL with a path, credentials or query', () => {
    expect(problems({ ...good, SALLYPORT_PUBLIC_URL: 'https://a.example/prefix' })).toHaveProperty('SALLYPORT_PUBLIC_URL');
    expect(problems({ ...good, SALLYPORT_PUBLIC_URL: 'https://u:p@a.example' })).toHaveProperty('SALLYPORT_PUBLIC_URL');
  });

  it('allows plain http only on loopback in production', () => {
    const c = loadConfig({ ...good, SALLYPORT_PUBLIC_URL: 'http://127.0.0.1:8080', SALLYPORT_OIDC_ISSUER: 'http://localhost:9000' }, 'production');
    expect(c.session.cookieSecure).toBe(false);
    expect(c.oidc.allowHttpIssuer).toBe(true);
    expect(problems({ ...good, SALLYPORT_OIDC_ISSUER: 'http://idp.example.com' })).toHaveProperty('SALLYPORT_OIDC_ISSUER');
  });

  it('reads secrets from NAME_FILE and refuses both forms at once', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sallyport-config-'));
    writeFileSync(join(dir, 'secret'), 'y'.repeat(40) + '\n');
    writeFileSync(join(dir, 'db'), 'postgres://app@from-file/db\n');
    const { SALLYPORT_SESSION_SECRET: _s, DATABASE_URL: _d, ...rest } = good;
    const c = loadConfig({ ...rest, SALLYPORT_SESSION_SECRET_FILE: join(dir, 'secret'), DATABASE_URL_FILE: join(dir, 'db') }, 'production');
    expect(c.session.secret).toBe('y'.repeat(40));
    expect(c.databaseUrl).toBe('postgres://app@from-file/db');

    const { SALLYPORT_OIDC_CLIENT_SECRET: _c, ...withoutClientSecret } = good;
    const p = problems({
      ...withoutClientSecret,
      SALLYPORT_SESSION_SECRET_FILE: join(dir, 'secret'),
      SALLYPORT_OIDC_CLIENT_SECRET_FILE: join(dir, 'missing'),
    });
    expect(p.SALLYPORT_SESSION_SECRET).toMatch(/only one/);
    expect(p.SALLYPORT_OIDC_CLIENT_SECRET_FILE).toMatch(/cannot read .*ENOENT/);
    // One problem for the unreadable file, not a second "is required" for the variable.
    expect(p.SALLYPORT_OIDC_CLIENT_SECRET).toBeUndefined();
  });

  it('never echoes a secret value in its error', () => {
    const err = (() => {
      try {
        loadConfig({ ...good, SALLYPORT_SESSION_SECRET: 'hunter2-short' }, 'production');
      } catch (e) {
        return e as SallyportError;
      }
    })();
    expect(err?.describe()).toMatch(/SALLYPORT_SESSION_SECRET: must be at least 32/);
    expect(err?.describe()).not.toContain('hunter2');
  });

  it('dev mode defaults HOST to loopback and does not require digests', () => {
    const c = loadConfig({ ...good, SALLYPORT_PUBLIC_URL: 'http://127.0.0.1:8080' }, 'dev');
    expect(c.host).toBe('127.0.0.1');
    expect(c.requireImageDigest).toBe(false);
  });
});

describe('docker-compose.yml', () => {
  it('gives the broker every variable production requires', async () => {
    const { parse } = await import('yaml');
    const { readFileSync, mkdtempSync: mk, writeFileSync: wr } = await import('node:fs');
    const { PACKAGE_ROOT } = await import('../server/paths.js');
    const compose = parse(readFileSync(join(PACKAGE_ROOT, 'docker-compose.yml'), 'utf8'));
    const service = compose.services.sallyport;
    expect(service.read_only).toBe(true);
    expect(service.cap_drop).toEqual(['ALL']);
    // Substitute ${VAR:-default} / ${VAR:?msg} with example values and point *_FILE at files.
    const dir = mk(join(tmpdir(), 'sallyport-compose-'));
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(service.environment as Record<string, string>)) {
      let value = String(v).replace(/\$\{(\w+)(:-([^}]*)|:\?[^}]*)?\}/g, (_m, name: string, _d, def?: string) =>
        def ?? ({ SALLYPORT_PUBLIC_URL: 'https://sallyport.example.com', SALLYPORT_OIDC_ISSUER: 'https://idp.example.com', SALLYPORT_DOCKER_HOST: 'tcp://docker-engine:2376' }[name] ?? 'example'),
      );
      if (k.endsWith('_FILE')) {
        const f = join(dir, k);
        wr(f, k === 'DATABASE_URL_FILE' ? 'postgres://sallyport:pw@postgres/sallyport' : k === 'SALLYPORT_SIGNING_KEY_FILE' ? testSigningKey() : 's'.repeat(40));
        value = f;
      }
      env[k] = value;
    }
    // The mounted ./secrets/docker: the engine's CA and the broker's client pair (PEM).
    expect(env.DOCKER_CERT_PATH).toBe('/etc/sallyport/docker-tls');
    expect(service.volumes).toContain('./secrets/docker:/etc/sallyport/docker-tls:ro');
    env.DOCKER_CERT_PATH = join(dir, 'docker-tls');
    mkdirSync(env.DOCKER_CERT_PATH);
    for (const [f, kind] of [['ca.pem', 'CERTIFICATE'], ['cert.pem', 'CERTIFICATE'], ['key.pem', 'PRIVATE KEY']]) wr(join(env.DOCKER_CERT_PATH, f!), `-----BEGIN ${kind}-----\nx\n-----END ${kind}-----\n`);
    const c = loadConfig(env, 'production');
    expect(c.runtime.dockerHost).toBe('tcp://docker-engine:2376');
    expect(c.runtime.dockerTls).toBeDefined();
    expect(c.catalogPath).toBe('/etc/sallyport/catalog.yaml');
    expect(c.databaseUrl).toMatch(/^postgres:\/\/sallyport/);
  });
});
