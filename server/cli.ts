#!/usr/bin/env node
// `sallyport serve | dev | migrate | catalog check FILE | admin …`: the process entry point. Reads the
// broker's environment through loadConfig only (`admin` is a client of a broker, with its own few
// settings: cli-admin.ts), wires signals, and prints errors a person can act on.
import { loadCatalogFile } from './catalog/index.js';
import { loadConfig, loadDatabaseConfig, loadEngineConfig, loadRecordingStoreConfig, loadVerifierKeys } from './config/index.js';
import { migrate, openDatabase } from './db/index.js';
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { JWK } from 'jose';
import { isSallyportError, SallyportError } from './errors.js';
import { publicJwk, type Jwks } from './signing/index.js';
import { startBroker, type Broker } from './main.js';
import { MIGRATIONS_DIR, PACKAGE_VERSION } from './paths.js';
import { NODE_CONFIG_USAGE, nodeConfigCommand, SSH_CA_USAGE, sshCaCommand } from './cli-fleet.js';
import { ADMIN_USAGE, adminCommand } from './cli-admin.js';

/** Each command's usage: `sallyport COMMAND --help` prints its own, `sallyport --help` all. */
const HELP: Record<string, string> = {
  serve: `  serve                 start the broker in production mode (configuration from the environment)
`,
  dev: `  dev                   start a self-contained demo: embedded PostgreSQL, dev IdP, demo catalogue
                        (needs the development dependencies: npm ci, not --omit=dev)
`,
  migrate: `  migrate               apply pending database migrations (DATABASE_URL)
`,
  catalog: `  catalog check FILE    validate a target catalogue with production rules (--dev: allow image tags);
                        fromEnv values must be set in this environment, as for the broker;
                        --engine: also ask the local engine (DOCKER_HOST) to resolve each image
`,
  verify: `  verify audit          check the audit hash chain and every signed checkpoint (DATABASE_URL);
                        --checkpoints FILE|URL also checks against checkpoints kept elsewhere,
                        --unsigned-grace S: older unsigned events are UNVERIFIED (default 120)
  verify recording ID   check one recording against the checkpoint signed when it was sealed;
                        EXPIRED (exit 3) when retention removed it, naming its removal event
  verify recording FILE check an evidence bundle offline (no database needed) against the
                        broker's published keys (--jwks URL|FILE); against the bundle's own keys
                        the verdict is UNTRUSTED (exit 1) unless --trust-bundle-keys
                        (ID and audit take --jwks too; default: the keys in SALLYPORT_SIGNING_KEY*)
`,
  restored: `  restored --reason TEXT after restoring the database from a backup: records the restore in the
                        audit chain (the gap the verifier then names) and makes this database a
                        new deployment, before any broker starts on it (DATABASE_URL)
`,
  'signing-key': `  signing-key new KID   print a new Ed25519 private key (JWK) for SALLYPORT_SIGNING_KEY
`,
  admin: ADMIN_USAGE,
  'ssh-ca': SSH_CA_USAGE,
  'node-config': NODE_CONFIG_USAGE,
  '--version': `  --version             print the version
`,
};
const USAGE = `usage: sallyport <command> [--help]

${Object.values(HELP).join('')}`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  // Asked for help: say how, and start nothing (not even a configuration check).
  if (command !== undefined && HELP[command] !== undefined && (rest.includes('--help') || rest.includes('-h'))) {
    process.stdout.write(`usage:\n${HELP[command]}`);
    return 0;
  }
  switch (command) {
    case 'serve': {
      const config = loadConfig(process.env, 'production');
      const signals = handleSignals();
      const broker = await startBroker(config, { env: process.env });
      signals.ready(broker);
      broker.app.log.info({ url: config.publicUrl }, 'sallyport is serving');
      return -1;
    }
    case 'dev': {
      const { startDev } = await import('./dev/index.js').catch((err: unknown) => {
        // A production install (npm ci --omit=dev, the broker image) has no dev IdP or PGlite.
        if ((err as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw err;
        throw new SallyportError('CONFIG_INVALID', `sallyport dev needs the development dependencies (oidc-provider, PGlite), which this install left out: run npm ci without --omit=dev (${(err as Error).message.split('\n')[0]})`);
      });
      const signals = handleSignals();
      const dev = await startDev(process.env);
      signals.ready(dev.broker, dev.close);
      return -1;
    }
    case 'migrate': {
      const { databaseUrl } = loadDatabaseConfig(process.env);
      const db = openDatabase(databaseUrl, { poolSize: 1 });
      try {
        const applied = await migrate(db, MIGRATIONS_DIR);
        process.stdout.write(applied.length ? `applied migrations: ${applied.join(', ')}\n` : 'database is up to date\n');
      } finally {
        await db.close();
      }
      return 0;
    }
    case 'catalog': {
      const { positionals, values } = parseArgs({ args: rest, allowPositionals: true, options: { dev: { type: 'boolean' }, engine: { type: 'boolean' } } });
      const [sub, file, ...extra] = positionals;
      if (sub !== 'check' || !file || extra.length > 0) {
        process.stderr.write(`usage:\n${HELP.catalog}`);
        return 2;
      }
      // The broker's own validator, with this environment for `fromEnv` values: what the broker
      // would refuse at load is refused here too (run it where the broker's variables are set).
      const catalog = loadCatalogFile(file, { requireDigest: !values.dev, env: process.env });
      if (values.engine) {
        // --engine: every image the broker's own engine would run, asked of that engine now.
        const { resolveImage } = await import('./runtime/index.js');
        const engine = loadEngineConfig(process.env, values.dev ? 'dev' : 'production');
        const problems: string[] = [];
        for (const t of catalog.targets) {
          if (t.runtime !== 'docker' || t.placement.length > 0) continue;
          const r = await resolveImage(t.image, engine);
          if (!r.ok) problems.push(`  - target "${t.name}".image: ${r.why}`);
        }
        if (problems.length) {
          process.stderr.write(`catalogue ${file} is valid, but the engine cannot run ${problems.length} of its images:\n${problems.join('\n')}\n`);
          return 2;
        }
      }
      const nodes = catalog.nodes.length ? `, ${catalog.nodes.length} fleet node(s)` : '';
      process.stdout.write(`catalogue ${file} is valid: ${catalog.targets.length} target(s)${nodes}, sha256 ${catalog.sha256}\n`);
      return 0;
    }
    case 'verify':
      return verifyCommand(rest);
    case 'restored': {
      const { values } = parseArgs({ args: rest, options: { reason: { type: 'string' } } });
      if (!values.reason) {
        process.stderr.write(`usage:\n${HELP.restored}`);
        return 2;
      }
      const { databaseUrl } = loadDatabaseConfig(process.env);
      const db = openDatabase(databaseUrl, { poolSize: 1 });
      try {
        await migrate(db, MIGRATIONS_DIR);
        const { createAuditLog, recordRestore } = await import('./audit/index.js');
        const r = await recordRestore(db, createAuditLog(db), values.reason);
        const cp = r.lastCheckpoint ? `checkpoint ${r.lastCheckpoint.n} (event ${r.lastCheckpoint.seq})` : 'no checkpoint';
        process.stdout.write(
          `recorded the restore as event ${r.seq}: this database holds events through ${r.throughSeq} and ${cp}; what was signed after them is named as the gap. Deployment ${r.previousDeployment} is now ${r.deployment}.\n` +
            `Before starting the brokers, move each one's SALLYPORT_CHECKPOINT_STATE file aside (keep it: it says what was signed before the restore).\n`,
        );
      } finally {
        await db.close();
      }
      return 0;
    }
    case 'signing-key': {
      const { positionals } = parseArgs({ args: rest, allowPositionals: true, options: {} });
      const [sub, kid, ...extra] = positionals;
      if (sub !== 'new' || !kid || extra.length > 0 || !/^[A-Za-z0-9._-]{1,64}$/.test(kid)) {
        process.stderr.write(`sallyport signing-key new KID (KID: 1-64 letters, digits, dots, dashes, underscores)\n`);
        return 2;
      }
      const { generateSigningKey } = await import('./signing/index.js');
      process.stdout.write(`${JSON.stringify(await generateSigningKey(kid))}\n`);
      return 0;
    }
    case 'admin':
      return adminCommand(rest, process.env, process.stdout, process.stderr);
    case 'ssh-ca':
      return sshCaCommand(rest);
    case 'node-config':
      return nodeConfigCommand(rest);
    case 'version':
    case '--version': {
      process.stdout.write(`sallyport ${PACKAGE_VERSION}\n`);
      return 0;
    }
    case undefined:
    case 'help':
    case '--help':
      process.stdout.write(USAGE);
      return command ? 0 : 2;
    default:
      process.stderr.write(`sallyport: unknown command "${command}"\n${USAGE}`);
      return 2;
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * `verify audit` / `verify recording ID|FILE`: exit 0 when intact, 1 when tampering was found or
 * (audit) events old enough to be signed are covered by no checkpoint (UNVERIFIED), 3 when
 * retention removed the recording (EXPIRED).
 */
async function verifyCommand(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: { jwks: { type: 'string' }, checkpoints: { type: 'string', multiple: true }, 'unsigned-grace': { type: 'string' }, 'trust-bundle-keys': { type: 'boolean' } },
    });
  } catch (err) {
    process.stderr.write(`sallyport verify: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const [what, ...positional] = parsed.positionals;
  const { jwks: jwksSource, checkpoints = [], 'unsigned-grace': grace, 'trust-bundle-keys': trustBundleKeys } = parsed.values;
  if ((what !== 'audit' && what !== 'recording') || (what === 'recording' && positional.length !== 1) || (what === 'audit' && positional.length !== 0)) {
    process.stderr.write(USAGE);
    return 2;
  }
  if (grace !== undefined && !/^\d{1,6}$/.test(grace)) {
    process.stderr.write('sallyport verify: --unsigned-grace must be a number of seconds\n');
    return 2;
  }
  const verdict = (report: { ok: boolean; problem?: { kind: string } | null; restored?: unknown }) =>
    report.ok ? (report.restored ? 'RESTORED' : 'OK') : report.problem?.kind === 'unverified' ? 'UNVERIFIED' : report.problem?.kind === 'expired' ? 'EXPIRED' : 'TAMPERED';
  // A recording is named by its session id; anything else is a bundle file, which must exist
  // (a mistyped path is "no such file", not a demand for DATABASE_URL).
  const bundleFile = what === 'recording' && !UUID.test(positional[0]!);
  if (bundleFile && !existsSync(positional[0]!)) {
    process.stderr.write(`sallyport verify: no such file: ${positional[0]}\n`);
    return 2;
  }
  if (bundleFile) {
    const { verifyBundle } = await import('./verify/index.js');
    const report = await verifyBundle(createReadStream(positional[0]!), jwksSource ? await loadJwks(jwksSource) : undefined, { trustBundleKeys });
    // A bundle checked only against its own keys proves nothing about who made it: UNTRUSTED
    // unless the auditor vouches for those keys, and every verdict names the key's thumbprint.
    const word = !report.ok && report.trust === 'bundle' ? 'UNTRUSTED' : verdict(report);
    (report.ok ? process.stdout : process.stderr).write(`${word}: ${report.summary}\n`);
    return report.ok ? 0 : 1;
  }
  const { databaseUrl } = loadDatabaseConfig(process.env);
  // A recording moved to object storage is read from there (SALLYPORT_RECORDING_STORE and SALLYPORT_S3_*).
  const { createObjectStore } = await import('./storage/index.js');
  const objects = what === 'recording' ? createObjectStore(loadRecordingStoreConfig(process.env)) : null;
  const jwks = await loadJwks(jwksSource);
  const external = (await Promise.all(checkpoints.map(loadCheckpoints))).flat();
  const { verifyAuditLog, verifyStoredRecording } = await import('./verify/index.js');
  const db = openDatabase(databaseUrl, { poolSize: 1 });
  try {
    const report =
      what === 'audit'
        ? await verifyAuditLog(db, jwks, { external, unsignedGraceSeconds: grace === undefined ? undefined : Number(grace) })
        : await verifyStoredRecording(db, positional[0]!, jwks, objects);
    (report.ok ? process.stdout : process.stderr).write(`${verdict(report)}: ${report.summary}\n`);
    // EXPIRED is neither intact nor tampered with: its own exit status, so a script can tell.
    return report.ok ? 0 : report.problem?.kind === 'expired' ? 3 : 1;
  } finally {
    await db.close();
  }
}

/**
 * Checkpoints kept outside the database: a URL (the published /.well-known/sallyport/checkpoint)
 * or a file of JSON values, one per line or one array — the broker's checkpoint log lines, saved
 * endpoint answers, or webhook bodies. Anything with a `jws` (at the top or under `checkpoint`).
 */
/** fetch, with a failure said in words: an untrusted certificate names what to set. */
async function fetchFrom(source: string, what: string): Promise<Response> {
  try {
    return await fetch(source, { signal: AbortSignal.timeout(10_000) });
  } catch (err) {
    const code = (err as { cause?: { code?: string } }).cause?.code ?? '';
    if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/.test(code)) {
      throw new SallyportError('BAD_REQUEST', `cannot fetch ${what} from ${source}: its TLS certificate is not trusted here (${code}); give the CA that signed it with NODE_EXTRA_CA_CERTS=/path/to/ca.pem, or save the file and pass its path`, { cause: err });
    }
    throw new SallyportError('BAD_REQUEST', `cannot fetch ${what} from ${source}: ${code || (err as Error).message}`, { cause: err });
  }
}

async function loadCheckpoints(source: string): Promise<Array<{ jws: string }>> {
  let text: string;
  if (/^https?:\/\//.test(source)) {
    const res = await fetchFrom(source, 'checkpoints');
    if (!res.ok) throw new SallyportError('SIGNATURE_INVALID', `cannot fetch checkpoints from ${source}: ${res.status}`);
    text = await res.text();
  } else {
    text = readFileSync(source, 'utf8');
  }
  const values: unknown[] = [];
  const trimmed = text.trim();
  if (trimmed.startsWith('[')) values.push(...(JSON.parse(trimmed) as unknown[]));
  else for (const line of trimmed.split('\n')) if (line.trim()) values.push(JSON.parse(line));
  const jwsOf = (v: unknown): string | undefined => {
    const o = v as { jws?: unknown; checkpoint?: { jws?: unknown } } | null;
    return typeof o?.jws === 'string' ? o.jws : typeof o?.checkpoint?.jws === 'string' ? o.checkpoint.jws : undefined;
  };
  return values.flatMap((v) => {
    const jws = jwsOf(v);
    return jws ? [{ jws }] : [];
  });
}

async function loadJwks(source: string | undefined): Promise<Jwks> {
  if (source && /^https?:\/\//.test(source)) {
    const res = await fetchFrom(source, 'the JWKS');
    if (!res.ok) throw new SallyportError('SIGNATURE_INVALID', `cannot fetch the JWKS from ${source}: ${res.status}`);
    return (await res.json()) as Jwks;
  }
  if (source) return JSON.parse(readFileSync(source, 'utf8')) as Jwks;
  // No JWKS given: the verifier trusts the keys this environment is configured with.
  const { current, previous } = loadVerifierKeys(process.env);
  return { keys: [publicJwk(current as JWK), ...previous.map((k) => publicJwk(k as JWK))] };
}

/**
 * Installed before the broker starts, so a signal that arrives while it is starting (the
 * readiness probe can already answer) is handled rather than killing the process.
 */
function handleSignals(): { ready(broker: Broker, extraClose?: () => Promise<void>): void } {
  let broker: Broker | undefined;
  let close: (() => Promise<void>) | undefined;
  let closing = false;
  let reloading = Promise.resolve();
  let reloadPending = false;
  const reload = () => {
    if (!broker) {
      reloadPending = true;
      return;
    }
    const b = broker;
    reloading = reloading.then(() =>
      b.catalog.reload().then((result) => {
        if (result.ok) b.app.log.info({ sha256: result.catalog.sha256 }, 'catalogue reloaded');
        else b.app.log.error(`catalogue reload refused, keeping the previous one: ${result.error.describe()}`);
      }),
    );
  };
  process.on('SIGHUP', reload);
  let stopNow: (() => void) | undefined;
  const stop = (signal: string) => {
    if (closing) {
      stopNow?.();
      return;
    }
    closing = true;
    if (!broker) return; // stopped as soon as it is ready
    broker.app.log.info({ signal }, 'shutting down');
    // SIGTERM (a restart, an upgrade): drain first, so consoles are not cut mid-work. A second
    // signal, or SIGINT at a terminal, stops at once.
    const b = broker;
    const drained = signal === 'SIGTERM' ? Promise.race([b.drain(), new Promise<void>((r) => (stopNow = r))]) : Promise.resolve();
    void drained
      .then(() => b.close())
      .then(() => close?.())
      .then(() => process.exit(0), () => process.exit(1));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  return {
    ready(b, extraClose) {
      broker = b;
      close = extraClose;
      if (reloadPending) reload();
      if (closing) {
        closing = false;
        stop('SIGTERM');
      }
    },
  };
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (err: unknown) => {
    if (isSallyportError(err)) {
      process.stderr.write(`sallyport: ${err.describe()}\n`);
      process.exitCode = err.code === 'CONFIG_INVALID' || err.code === 'CATALOG_INVALID' ? 2 : 1;
    } else if (String((err as { code?: unknown })?.code).startsWith('ERR_PARSE_ARGS')) {
      // A mistyped option: a usage error, like any other (exit 2), with the command's help.
      const help = HELP[process.argv[2] ?? ''];
      process.stderr.write(`sallyport: ${(err as Error).message.split('. ')[0]}\n${help ? `usage:\n${help}` : ''}`);
      process.exitCode = 2;
    } else if (typeof (err as { code?: unknown })?.code === 'string') {
      // The database or the system said no (refused, no such role or database, …): its words, no
      // stack. (A URL naming no user is the configuration's to explain, before any connection.)
      process.stderr.write(`sallyport: ${(err as Error).message} (${(err as { code: string }).code})\n`);
      process.exitCode = 1;
    } else {
      process.stderr.write(`sallyport: ${(err as Error)?.stack ?? String(err)}\n`);
      process.exitCode = 1;
    }
  },
);
