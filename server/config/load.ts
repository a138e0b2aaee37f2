// loadConfig(env, mode): the broker's whole configuration, validated once, every bad variable
// reported together, returned frozen and passed down explicitly. loadDatabaseConfig is the part
// the database-only commands (migrate, verify) need.
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { deepFreeze } from '../freeze.js';
import { ed25519Jwk, previousKeys, sshCa, type SshCaConfig } from './keys.js';
import { createReader, parseDuration, type Env } from './reader.js';
import { parsePrivateKeyFile } from '../signing/index.js';

export type Mode = 'production' | 'dev';
export type Role = 'developer' | 'approver' | 'auditor' | 'admin';
export const ROLES: readonly Role[] = ['developer', 'approver', 'auditor', 'admin'];

export interface Config {
  readonly mode: Mode;
  readonly host: string;
  readonly port: number;
  /** The origin users type (no trailing slash); the only accepted Origin and redirect target. */
  readonly publicUrl: string;
  readonly databaseUrl: string;
  /**
   * Proxies (addresses or CIDRs) whose X-Forwarded-For the broker believes: the client address of
   * requests through them is the one they report. Empty: every request's address is its peer's.
   */
  readonly trustedProxies: readonly string[];
  /** Connections in the pool; 1 for PGlite, which has a single session. */
  readonly databasePoolSize: number;
  /**
   * Whether `serve` applies pending migrations at start (the schema owner's role), or only checks,
   * read-only, that the schema is the one it needs (an application role: `sallyport migrate` runs
   * as the owner beforehand).
   */
  readonly autoMigrate: boolean;
  readonly oidc: {
    readonly issuer: string;
    readonly clientId: string;
    readonly clientSecret: string;
    readonly groupsClaim: string;
    readonly scopes: readonly string[];
    /** ID-token signature algorithms we accept; anything else (including `none`) is refused. */
    readonly idTokenAlg: string;
    /** Plain-http issuer allowed; validation only lets http through for dev mode or loopback. */
    readonly allowHttpIssuer: boolean;
  };
  readonly roles: Readonly<Record<Role, readonly string[]>>;
  readonly session: {
    readonly secret: string;
    /**
     * Earlier (or, for the first phase of a rotation, next) secrets still accepted for what they
     * made — logins, links, CSRF tokens — and never used to make anything new.
     */
    readonly previousSecrets: readonly string[];
    readonly idleTimeoutSeconds: number;
    readonly absoluteTimeoutSeconds: number;
    readonly cookieSecure: boolean;
  };
  readonly catalogPath: string;
  readonly access: {
    /** Deciding or revoking needs an IdP login at most this old; older logins step up with max_age. */
    readonly reauthMaxAgeSeconds: number;
  };
  /** Signs audit checkpoints: the current private key and previous public keys (rotation). */
  readonly signing: {
    readonly key: Readonly<Record<string, string>>;
    readonly previous: ReadonlyArray<Readonly<Record<string, string>>>;
    /** While audit events arrive, sign a checkpoint at least this often. */
    readonly checkpointIntervalSeconds: number;
    /**
     * A file outside the database (beside the key) where the broker keeps the last checkpoint it
     * signed or saw, so it notices deleted or replaced checkpoints across restarts too.
     */
    readonly checkpointStateFile: string | undefined;
  };
  /** Where access-request notifications go; undefined = no webhook. */
  /** `checkpoints`: every signed audit checkpoint is posted too, as a copy outside the database. */
  readonly webhook: { readonly url: string; readonly format: 'json' | 'slack'; readonly checkpoints: boolean } | undefined;
  readonly limits: {
    /** Logins one client address may start a minute (per broker). */
    readonly loginsPerMinute: number;
    /** Logins in flight (started, not finished, not expired) across every broker. */
    readonly pendingLogins: number;
  };
  /** Database time a second this broker may spend building the search index (ms, 10–1000). */
  readonly search: { readonly indexMsPerSecond: number };
  /** How long recordings are kept after their console ends when the target does not say (seconds; null: for ever), and where sealed ones are kept. */
  readonly recordings: {
    readonly retentionSeconds: number | null;
    readonly store: RecordingStoreConfig;
    /**
     * A database outage (a failover) live consoles ride out: their recordings are held on the
     * broker for up to `seconds` (0: the first failure ends them, fail closed) and at most
     * `bytes` in all, then stored in order.
     */
    readonly buffer: { readonly seconds: number; readonly bytes: number };
  };
  /** Caps on live consoles, across every broker (a target may set its own in the catalogue). */
  readonly consoles: {
    readonly maxPerUser: number;
    readonly maxTotal: number;
    /** Input one console takes a second after a burst of four seconds' worth (backpressure, never dropped). */
    readonly inputBytesPerSecond: number;
    /**
     * A browser console whose socket drops (a reload, a blip, a laptop asleep) waits this long
     * for its page to reattach before it ends "client gone"; 0: it ends at once.
     */
    readonly reattachSeconds: number;
  };
  readonly broker: {
    /**
     * A readable prefix for this process's instance id; the id itself is generated at start
     * (`<prefix>-<random>`), so no two processes ever share one.
     */
    readonly prefix: string;
    /** A broker whose heartbeat is older than this is dead and its consoles are taken over. */
    readonly leaseSeconds: number;
    /** On SIGTERM: live consoles go on (their users told) for up to this long before they are ended. */
    readonly drainSeconds: number;
  };
  readonly runtime: {
    /** Docker Engine address (DOCKER_HOST form); undefined = the local socket. */
    readonly dockerHost: string | undefined;
    /** TLS to a tcp:// engine (DOCKER_TLS_VERIFY=1, DOCKER_CERT_PATH): PEM contents, secrets. */
    readonly dockerTls: { readonly ca: string; readonly cert: string; readonly key: string } | undefined;
  };
  /** How the broker reaches fleet nodes: its SSH user CA and the certificates it issues. */
  readonly fleet: {
    readonly ca: SshCaConfig;
    /** The certificates' source-address; undefined = each connection's own local address. */
    readonly sourceAddresses: readonly string[] | undefined;
    /** A certificate is valid this long after issue (and as long before, for clock skew). */
    readonly certificateSeconds: number;
    readonly connectTimeoutSeconds: number;
  };
  /**
   * The SSH front door: where it listens (undefined = off), its persistent host key, how long a
   * login link lives, and the bounds on connections that have not logged in yet.
   */
  readonly sshDoor: {
    readonly listen: { readonly host: string; readonly port: number } | undefined;
    /** The openssh-key-v1 Ed25519 host key (a secret); set whenever `listen` is. */
    readonly hostKey: string | undefined;
    readonly loginSeconds: number;
    /** How long a terminal waits for an approval it asked for before withdrawing it. */
    readonly approvalWaitSeconds: number;
    /** Connections not logged in, per address (an IPv6 /64 counts as one) and in all. */
    readonly unauthenticatedPerAddress: number;
    readonly unauthenticatedTotal: number;
    /** From TCP accept until the connection is shown its login link. */
    readonly handshakeSeconds: number;
    /** How long a key a browser login confirmed logs its user in again (hours; 0: never). */
    readonly keyLoginHours: number;
  };
  /** Production refuses images not pinned by digest. */
  readonly requireImageDigest: boolean;
  /** /metrics: served only with this bearer token; off when unset (a secret, never logged). */
  readonly metrics: { readonly token: string | undefined };
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const ID_TOKEN_ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

/**
 * DATABASE_URL (or DATABASE_URL_FILE) and the pool size, for commands that need only the
 * database. Throws CONFIG_INVALID naming what is wrong.
 */
export function loadDatabaseConfig(env: Env): { databaseUrl: string; databasePoolSize: number } {
  const r = createReader(env);
  const settings = databaseSettings(r, env);
  r.check();
  return settings;
}

/** Where sealed recordings are kept: PostgreSQL (with everything else), or an S3 bucket. */
export type RecordingStoreConfig =
  | { readonly kind: 'postgres' }
  | {
      readonly kind: 's3';
      readonly bucket: string;
      /** An S3-compatible server (radosgw, MinIO, …), addressed path-style; absent = AWS. */
      readonly endpoint: string | undefined;
      readonly region: string;
      /** Object names start with this (a folder in a shared bucket). */
      readonly prefix: string;
      /** Absent: the SDK's default chain (an instance role, AWS_* variables). */
      readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string } | undefined;
    };

/** The recording store alone, for commands that read recordings (`verify recording ID`). */
export function loadRecordingStoreConfig(env: Env, mode: Mode = 'production'): RecordingStoreConfig {
  const r = createReader(env);
  const settings = recordingStoreSettings(r, mode);
  r.check();
  return settings;
}

function recordingStoreSettings(r: ReturnType<typeof createReader>, mode: Mode): RecordingStoreConfig {
  const kind = r.read('SALLYPORT_RECORDING_STORE') ?? 'postgres';
  const s3Vars = ['SALLYPORT_S3_BUCKET', 'SALLYPORT_S3_ENDPOINT', 'SALLYPORT_S3_REGION', 'SALLYPORT_S3_PREFIX', 'SALLYPORT_S3_ACCESS_KEY_ID', 'SALLYPORT_S3_SECRET_ACCESS_KEY'];
  if (kind === 'postgres') {
    for (const v of s3Vars) if (r.read(v) !== undefined) r.bad(v, 'is set but SALLYPORT_RECORDING_STORE is not s3');
    return { kind: 'postgres' };
  }
  if (kind !== 's3') {
    r.bad('SALLYPORT_RECORDING_STORE', `must be postgres or s3, got "${kind}"`);
    return { kind: 'postgres' };
  }
  const bucket = r.required('SALLYPORT_S3_BUCKET');
  if (bucket && !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) r.bad('SALLYPORT_S3_BUCKET', 'must be a bucket name (3-63 lowercase letters, digits, dots and dashes)');
  const endpointText = r.read('SALLYPORT_S3_ENDPOINT');
  // Recordings are evidence: plain http only to a server on loopback (or in dev mode).
  const endpoint = endpointText === undefined ? undefined : r.url('SALLYPORT_S3_ENDPOINT', endpointText, { allowHttp: mode === 'dev' });
  const region = r.read('SALLYPORT_S3_REGION') ?? 'us-east-1';
  if (!/^[a-z0-9-]{2,40}$/.test(region)) r.bad('SALLYPORT_S3_REGION', 'must be a region name such as us-east-1');
  const prefix = r.read('SALLYPORT_S3_PREFIX') ?? 'sallyport/';
  if (!/^([A-Za-z0-9._-]+\/)*$/.test(prefix)) r.bad('SALLYPORT_S3_PREFIX', 'must be empty or folder names each ending in /, e.g. sallyport/');
  const accessKeyId = r.read('SALLYPORT_S3_ACCESS_KEY_ID');
  const secretAccessKey = r.read('SALLYPORT_S3_SECRET_ACCESS_KEY');
  if ((accessKeyId === undefined) !== (secretAccessKey === undefined)) {
    r.bad(accessKeyId === undefined ? 'SALLYPORT_S3_ACCESS_KEY_ID' : 'SALLYPORT_S3_SECRET_ACCESS_KEY', 'set both SALLYPORT_S3_ACCESS_KEY_ID and SALLYPORT_S3_SECRET_ACCESS_KEY (or _FILE), or neither for the SDK\'s default credentials');
  }
  return {
    kind: 's3',
    bucket,
    endpoint: endpoint?.href.replace(/\/$/, ''),
    region,
    prefix,
    credentials: accessKeyId !== undefined && secretAccessKey !== undefined ? { accessKeyId, secretAccessKey } : undefined,
  };
}

/**
 * DOCKER_HOST and its TLS, for commands that ask the engine only (`catalog check --engine`).
 * Throws CONFIG_INVALID naming what is wrong.
 */
export function loadEngineConfig(env: Env, mode: Mode): Pick<Config['runtime'], 'dockerHost' | 'dockerTls'> {
  const r = createReader(env);
  const settings = engineSettings(r, mode);
  r.check();
  return settings;
}

function engineSettings(r: ReturnType<typeof createReader>, mode: Mode): Pick<Config['runtime'], 'dockerHost' | 'dockerTls'> {
  const dockerHost = r.read('DOCKER_HOST');
  if (dockerHost !== undefined && !/^(unix|tcp|http|https):\/\//.test(dockerHost)) {
    r.bad('DOCKER_HOST', 'must be unix:///path, tcp://host:port or https://host:port');
  }
  return { dockerHost, dockerTls: engineTls(r, dockerHost, mode) };
}

/**
 * TLS to a remote engine, as the docker CLI reads it: DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH
 * holding ca.pem, cert.pem and key.pem. The engine's API is root on its host, so production
 * refuses a tcp:// engine without TLS unless it is on this machine's loopback.
 */
function engineTls(r: ReturnType<typeof createReader>, host: string | undefined, mode: Mode): Config['runtime']['dockerTls'] {
  const verify = r.read('DOCKER_TLS_VERIFY');
  const certPath = r.read('DOCKER_CERT_PATH');
  const remote = host !== undefined && /^(tcp|https):\/\//.test(host);
  if (verify !== undefined && verify !== '1' && verify !== '0' && verify !== '') r.bad('DOCKER_TLS_VERIFY', 'must be 1 (verify the engine and present a client certificate) or unset');
  if (verify !== '1') {
    if (certPath !== undefined) r.bad('DOCKER_CERT_PATH', 'is set but DOCKER_TLS_VERIFY is not 1');
    if (remote && mode === 'production' && !/^(tcp|https):\/\/(127\.0\.0\.1|localhost|\[::1\])(:|\/|$)/.test(host)) {
      r.bad('DOCKER_HOST', 'is a network engine without TLS, which gives root on its host to anyone who reaches it: set DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH (ca.pem, cert.pem, key.pem)');
    }
    return undefined;
  }
  if (!remote) r.bad('DOCKER_TLS_VERIFY', 'needs DOCKER_HOST=tcp://HOST:2376');
  if (certPath === undefined) {
    r.bad('DOCKER_CERT_PATH', 'is required with DOCKER_TLS_VERIFY=1 (a directory with ca.pem, cert.pem, key.pem)');
    return undefined;
  }
  const pem = (file: string, kind: RegExp): string => {
    let text = '';
    try {
      text = readFileSync(join(certPath, file), 'utf8');
    } catch (err) {
      r.bad('DOCKER_CERT_PATH', `cannot read ${join(certPath, file)} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
      return '';
    }
    if (!kind.test(text)) r.bad('DOCKER_CERT_PATH', `${join(certPath, file)} is not a PEM ${file === 'key.pem' ? 'private key' : 'certificate'}`);
    return text;
  };
  return { ca: pem('ca.pem', /-----BEGIN CERTIFICATE-----/), cert: pem('cert.pem', /-----BEGIN CERTIFICATE-----/), key: pem('key.pem', /-----BEGIN (RSA |EC )?PRIVATE KEY-----/) };
}

/** DATABASE_URL and the pool size, checked the same way for every command that needs them. */
function databaseSettings(r: ReturnType<typeof createReader>, env: Env): { databaseUrl: string; databasePoolSize: number } {
  const databaseUrl = r.required('DATABASE_URL');
  if (databaseUrl && !/^postgres(ql)?:\/\//.test(databaseUrl)) r.bad('DATABASE_URL', 'must be a postgres:// or postgresql:// URL');
  else if (databaseUrl) {
    let user: string | null = null;
    try {
      const u = new URL(databaseUrl.replace(/^postgres(ql)?:/, 'http:'));
      user = u.username || u.searchParams.get('user');
    } catch {
      r.bad('DATABASE_URL', 'is not a valid URL');
    }
    // The driver would fall back to PGUSER or USER, and without either fails with a stack trace.
    if (!user && !env.PGUSER && !env.USER) r.bad('DATABASE_URL', 'names no user, and neither PGUSER nor USER is set: write postgres://USER[:PASSWORD]@HOST/DATABASE');
  }
  const databasePoolSize = r.integer('SALLYPORT_DATABASE_POOL_SIZE', 10, 1, 200);
  return { databaseUrl, databasePoolSize };
}

/**
 * Reads and validates the environment. In production every required variable must be set;
 * dev mode (`sallyport dev`) passes its embedded defaults in `env` and so runs the same checks.
 * Throws CONFIG_INVALID naming every missing or malformed variable.
 */
export function loadConfig(env: Env, mode: Mode): Config {
  const r = createReader(env);
  const { read, required, integer, duration, list, url, bad } = r;

  const port = integer('PORT', 8080, 0, 65535);
  const host = read('HOST') ?? (mode === 'dev' ? '127.0.0.1' : '0.0.0.0');

  const { databaseUrl, databasePoolSize } = databaseSettings(r, env);
  const trustedProxies = list('SALLYPORT_TRUSTED_PROXIES', []);
  for (const p of trustedProxies) {
    const [ip, prefix, extra] = p.split('/');
    const family = isIP(ip ?? '');
    if (!family || extra !== undefined || (prefix !== undefined && !(/^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 6 ? 128 : 32)))) {
      bad('SALLYPORT_TRUSTED_PROXIES', `"${p}" is not an IP address or CIDR (list the load balancer's or nginx's addresses, comma-separated)`);
    }
  }
  const autoMigrateText = read('SALLYPORT_AUTO_MIGRATE') ?? 'true';
  if (autoMigrateText !== 'true' && autoMigrateText !== 'false') bad('SALLYPORT_AUTO_MIGRATE', 'must be true (migrate at start) or false (an application role: run sallyport migrate as the owner first)');

  const publicUrlRaw = required('SALLYPORT_PUBLIC_URL');
  const publicUrl = url('SALLYPORT_PUBLIC_URL', publicUrlRaw, { allowHttp: mode === 'dev' });
  if (publicUrl && publicUrl.pathname !== '/') {
    bad('SALLYPORT_PUBLIC_URL', 'must be an origin without a path, e.g. https://sallyport.example.com');
  }

  const issuer = required('SALLYPORT_OIDC_ISSUER');
  url('SALLYPORT_OIDC_ISSUER', issuer, { allowHttp: mode === 'dev' });
  const clientId = required('SALLYPORT_OIDC_CLIENT_ID');
  const clientSecret = required('SALLYPORT_OIDC_CLIENT_SECRET');
  const groupsClaim = read('SALLYPORT_OIDC_GROUPS_CLAIM') ?? 'groups';
  const scopes = list('SALLYPORT_OIDC_SCOPES', ['openid', 'profile', 'email', 'groups']);
  if (!scopes.includes('openid')) bad('SALLYPORT_OIDC_SCOPES', 'must include openid');
  const idTokenAlg = read('SALLYPORT_OIDC_ID_TOKEN_ALG') ?? 'RS256';
  if (!ID_TOKEN_ALGS.includes(idTokenAlg)) {
    bad('SALLYPORT_OIDC_ID_TOKEN_ALG', `must be one of ${ID_TOKEN_ALGS.join(', ')} (symmetric and none are refused)`);
  }

  const roles: Record<Role, string[]> = {
    developer: list('SALLYPORT_ROLE_DEVELOPER_GROUPS', ['developers']),
    approver: list('SALLYPORT_ROLE_APPROVER_GROUPS', ['approvers']),
    auditor: list('SALLYPORT_ROLE_AUDITOR_GROUPS', ['auditors']),
    admin: list('SALLYPORT_ROLE_ADMIN_GROUPS', ['admins']),
  };

  const secret = required('SALLYPORT_SESSION_SECRET');
  if (secret && secret.length < 32) bad('SALLYPORT_SESSION_SECRET', 'must be at least 32 characters');
  const previousSecrets = list('SALLYPORT_SESSION_SECRET_PREVIOUS', []);
  if (previousSecrets.some((x) => x.length < 32)) bad('SALLYPORT_SESSION_SECRET_PREVIOUS', 'each secret (comma-separated) must be at least 32 characters');
  const idleTimeoutSeconds = duration('SALLYPORT_SESSION_IDLE_TIMEOUT', 30 * 60);
  const absoluteTimeoutSeconds = duration('SALLYPORT_SESSION_MAX_AGE', 12 * 3600);
  if (idleTimeoutSeconds > absoluteTimeoutSeconds) {
    bad('SALLYPORT_SESSION_IDLE_TIMEOUT', 'must not exceed SALLYPORT_SESSION_MAX_AGE');
  }

  const catalogPath = required('SALLYPORT_CATALOG');
  const reauthMaxAgeSeconds = duration('SALLYPORT_REAUTH_MAX_AGE', 5 * 60);
  if (reauthMaxAgeSeconds > 3600) bad('SALLYPORT_REAUTH_MAX_AGE', 'must be at most 1h: an approval needs a recent login');

  const signingKey = ed25519Jwk('SALLYPORT_SIGNING_KEY', required('SALLYPORT_SIGNING_KEY'), true, r.bad);
  const checkpointIntervalSeconds = duration('SALLYPORT_CHECKPOINT_INTERVAL', 25);
  if (checkpointIntervalSeconds > 30) bad('SALLYPORT_CHECKPOINT_INTERVAL', 'must be at most 30s');
  const previous = previousKeys(r);
  const checkpointStateFile = read('SALLYPORT_CHECKPOINT_STATE');
  if (checkpointStateFile !== undefined && !checkpointStateFile.startsWith('/')) bad('SALLYPORT_CHECKPOINT_STATE', 'must be an absolute file path (a file the broker may write, beside its signing key)');

  const webhookUrl = read('SALLYPORT_WEBHOOK_URL');
  if (webhookUrl !== undefined) url('SALLYPORT_WEBHOOK_URL', webhookUrl, { allowHttp: mode === 'dev', allowQuery: true, secret: true });
  const webhookFormat = read('SALLYPORT_WEBHOOK_FORMAT') ?? 'json';
  if (webhookFormat !== 'json' && webhookFormat !== 'slack') bad('SALLYPORT_WEBHOOK_FORMAT', 'must be json or slack');
  const webhookCheckpoints = read('SALLYPORT_WEBHOOK_CHECKPOINTS') ?? 'false';
  if (webhookCheckpoints !== 'true' && webhookCheckpoints !== 'false') bad('SALLYPORT_WEBHOOK_CHECKPOINTS', 'must be true or false');
  if (webhookUrl === undefined && read('SALLYPORT_WEBHOOK_CHECKPOINTS') !== undefined) bad('SALLYPORT_WEBHOOK_CHECKPOINTS', 'is set but SALLYPORT_WEBHOOK_URL is not');
  if (webhookUrl === undefined && read('SALLYPORT_WEBHOOK_FORMAT') !== undefined) bad('SALLYPORT_WEBHOOK_FORMAT', 'is set but SALLYPORT_WEBHOOK_URL is not');

  // A fixed id shared by two processes let one reap the other's consoles: ids are generated now.
  if (read('SALLYPORT_BROKER_ID') !== undefined) bad('SALLYPORT_BROKER_ID', 'is no longer used: each process generates its own instance id; set SALLYPORT_BROKER_PREFIX for a readable prefix');
  const brokerPrefix = read('SALLYPORT_BROKER_PREFIX') ?? 'b';
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$/.test(brokerPrefix)) bad('SALLYPORT_BROKER_PREFIX', 'must be 1-40 letters, digits, dots, dashes or underscores');
  const leaseSeconds = integer('SALLYPORT_BROKER_LEASE_SECONDS', 30, 3, 3600);
  // 0 (or 0s): no drain, a stop ends consoles at once.
  const drainSeconds = /^0s?$/.test(read('SALLYPORT_DRAIN_SECONDS') ?? '') ? 0 : duration('SALLYPORT_DRAIN_SECONDS', 30);
  if (drainSeconds > 24 * 3600) bad('SALLYPORT_DRAIN_SECONDS', 'must be at most 24h');
  const loginsPerMinute = integer('SALLYPORT_LOGINS_PER_MINUTE', 60, 1, 100000);
  const pendingLogins = integer('SALLYPORT_MAX_PENDING_LOGINS', 10000, 10, 10000000);
  const maxPerUser = integer('SALLYPORT_MAX_CONSOLES_PER_USER', 5, 1, 1000);
  const maxTotal = integer('SALLYPORT_MAX_CONSOLES', 300, 1, 100000);
  const inputBytesPerSecond = integer('SALLYPORT_CONSOLE_INPUT_BYTES_PER_SECOND', 256 * 1024, 1024, 64 * 1024 * 1024);
  const indexMsPerSecond = integer('SALLYPORT_SEARCH_INDEX_MS_PER_SECOND', 500, 10, 1000);
  const reattachSeconds = integer('SALLYPORT_REATTACH_SECONDS', 60, 0, 3600);
  const bufferSeconds = integer('SALLYPORT_RECORDING_BUFFER_SECONDS', 60, 0, 600);
  const bufferBytes = integer('SALLYPORT_RECORDING_BUFFER_MIB', 256, 1, 65536) * 1024 * 1024;
  // Nothing is removed unless the operator says so: an upgrade must not start deleting evidence.
  const retentionText = read('SALLYPORT_RECORDING_RETENTION') ?? 'forever';
  const retentionSeconds = retentionText === 'forever' ? null : (parseDuration(retentionText) ?? 0);
  const store = recordingStoreSettings(r, mode);
  if (retentionSeconds !== null && retentionSeconds < 86400) bad('SALLYPORT_RECORDING_RETENTION', `must be at least a day, like 90d or 400d, or forever; got "${retentionText}"`);
  const { dockerHost, dockerTls } = engineSettings(r, mode);

  const ca = sshCa(r);
  const sourceAddresses = read('SALLYPORT_SSH_SOURCE_ADDRESSES') === undefined ? undefined : list('SALLYPORT_SSH_SOURCE_ADDRESSES', []);
  for (const a of sourceAddresses ?? []) {
    if (!/^[0-9a-fA-F.:]+(\/\d{1,3})?$/.test(a)) bad('SALLYPORT_SSH_SOURCE_ADDRESSES', `"${a}" is not an IP address or CIDR`);
  }
  const certificateSeconds = integer('SALLYPORT_SSH_CERTIFICATE_SECONDS', 60, 10, 600);
  const connectTimeoutSeconds = integer('SALLYPORT_SSH_CONNECT_TIMEOUT_SECONDS', 10, 1, 120);

  const sshListenRaw = read('SALLYPORT_SSH_LISTEN');
  let sshListen: { host: string; port: number } | undefined;
  if (sshListenRaw !== undefined && sshListenRaw !== 'off') {
    const m = /^(?:\[([0-9a-fA-F:]+)\]|([^:\s]+)):(\d{1,5})$/.exec(sshListenRaw);
    const listenPort = m ? Number(m[3]) : NaN;
    if (!m || listenPort > 65535) bad('SALLYPORT_SSH_LISTEN', 'must be host:port (e.g. 0.0.0.0:2222 or [::]:2222) or off');
    else sshListen = { host: m[1] ?? m[2]!, port: listenPort };
  }
  const sshHostKey = read('SALLYPORT_SSH_HOST_KEY');
  if (sshHostKey !== undefined) {
    try {
      parsePrivateKeyFile(sshHostKey);
    } catch (err) {
      bad('SALLYPORT_SSH_HOST_KEY', (err as Error).message);
    }
  } else if (sshListen) bad('SALLYPORT_SSH_HOST_KEY', 'is required when SALLYPORT_SSH_LISTEN is set (sallyport ssh-ca new prints a key)');
  const sshLoginSeconds = duration('SALLYPORT_SSH_LOGIN_TIMEOUT', 5 * 60);
  if (sshLoginSeconds < 10 || sshLoginSeconds > 30 * 60) bad('SALLYPORT_SSH_LOGIN_TIMEOUT', 'must be from 10s to 30m');
  const approvalWaitSeconds = duration('SALLYPORT_SSH_APPROVAL_WAIT', 15 * 60);
  if (approvalWaitSeconds < 10 || approvalWaitSeconds > 24 * 3600) bad('SALLYPORT_SSH_APPROVAL_WAIT', 'must be from 10s to 24h');
  const unauthenticatedPerAddress = integer('SALLYPORT_SSH_MAX_UNAUTHENTICATED_PER_ADDRESS', 10, 1, 10000);
  const unauthenticatedTotal = integer('SALLYPORT_SSH_MAX_UNAUTHENTICATED', 256, 1, 100000);
  const sshHandshakeSeconds = duration('SALLYPORT_SSH_HANDSHAKE_TIMEOUT', 20);
  const keyLoginHours = integer('SALLYPORT_SSH_KEY_LOGIN_HOURS', 12, 0, 168);
  if (sshHandshakeSeconds < 2 || sshHandshakeSeconds > 120) bad('SALLYPORT_SSH_HANDSHAKE_TIMEOUT', 'must be from 2s to 2m');

  const metricsToken = read('SALLYPORT_METRICS_TOKEN');
  if (metricsToken !== undefined && !/^[\x21-\x7e]{32,256}$/.test(metricsToken)) bad('SALLYPORT_METRICS_TOKEN', 'must be 32-256 printable characters without spaces');

  const logLevel = (read('SALLYPORT_LOG_LEVEL') ?? 'info') as Config['logLevel'];
  if (!LOG_LEVELS.includes(logLevel)) bad('SALLYPORT_LOG_LEVEL', `must be one of ${LOG_LEVELS.join(', ')}`);

  r.check();

  return deepFreeze({
    mode,
    host,
    port,
    publicUrl: publicUrl!.origin,
    databaseUrl,
    databasePoolSize,
    trustedProxies,
    autoMigrate: autoMigrateText !== 'false',
    oidc: { issuer, clientId, clientSecret, groupsClaim, scopes, idTokenAlg, allowHttpIssuer: issuer.startsWith('http:') },
    roles,
    session: {
      secret,
      previousSecrets,
      idleTimeoutSeconds,
      absoluteTimeoutSeconds,
      cookieSecure: publicUrl!.protocol === 'https:',
    },
    catalogPath,
    access: { reauthMaxAgeSeconds },
    signing: { key: signingKey!, previous, checkpointIntervalSeconds, checkpointStateFile },
    webhook: webhookUrl === undefined ? undefined : { url: webhookUrl, format: webhookFormat as 'json' | 'slack', checkpoints: webhookCheckpoints === 'true' },
    limits: { loginsPerMinute, pendingLogins },
    search: { indexMsPerSecond },
    recordings: { retentionSeconds, store, buffer: { seconds: bufferSeconds, bytes: bufferBytes } },
    consoles: { maxPerUser, maxTotal, inputBytesPerSecond, reattachSeconds },
    broker: { prefix: brokerPrefix, leaseSeconds, drainSeconds },
    runtime: { dockerHost, dockerTls },
    fleet: { ca, sourceAddresses, certificateSeconds, connectTimeoutSeconds },
    sshDoor: { listen: sshListen, hostKey: sshHostKey, loginSeconds: sshLoginSeconds, approvalWaitSeconds, unauthenticatedPerAddress, unauthenticatedTotal, handshakeSeconds: sshHandshakeSeconds, keyLoginHours },
    requireImageDigest: mode === 'production',
    metrics: { token: metricsToken },
    logLevel,
  });
}

