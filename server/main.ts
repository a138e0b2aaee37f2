// Composition root: config → adapters (db, audit) → services (catalog, identity) → front door
// (http). The only module that knows every concrete piece. It starts and stops a broker; the
// CLI decides which config and which signals.
import type { FastifyInstance } from 'fastify';
import { createAuditLog, type AuditLog } from './audit/index.js';
import { openCatalogStore, type CatalogStore } from './catalog/index.js';
import type { Config } from './config/index.js';
import { checkSchema, CONTROL_CHANNEL, databaseClock, deploymentIdentity, listen, migrate, openDatabase, pendingMigrations, readMigrations, type AuditEventRow, type Database } from './db/index.js';
import { buildApp } from './http/index.js';
import { createCliLogins, createIdentity, createRelyingParty, createSshLogins } from './identity/index.js';
import { startSshDoor, type SshDoor } from './ssh/index.js';
import { createConsoleService, createFleetView, END_CODES, type ConsoleService } from './consoles/index.js';
import { createAccessRequests, type AccessRequests } from './access/index.js';
import { createWebhookNotifier } from './notify/index.js';
import { createMetrics } from './metrics/index.js';
import { createSigner, type Signer } from './signing/index.js';
import { AUDIT_ACTIONS, createCheckpointer, type Checkpointer } from './audit/index.js';
import { buildBundle } from './bundle/index.js';
import { createRecordings, createReplay, startWordIndexer, type Replay } from './replay/index.js';
import { registerInstance, type BrokerInstance } from './brokers/index.js';
import { createDockerRuntime, createFleetPool, createSshRuntime, type Runtime } from './runtime/index.js';
import { parsePrivateKeyFile } from './signing/index.js';
import { MIGRATIONS_DIR, PACKAGE_VERSION, WEB_DIST_DIR } from './paths.js';
import { throttleWarnings } from './rate-limit.js';
import { createRetention, type Retention } from './retention/index.js';
import { createObjectStore, createRecordingMover, type RecordingMover } from './storage/index.js';

export interface Broker {
  /**
   * For a restart (SIGTERM): /readyz answers 503 so the load balancer sends newcomers elsewhere,
   * no new consoles or SSH logins, live consoles go on (their users told) until they end or
   * SALLYPORT_DRAIN_SECONDS pass. Then call close().
   */
  drain(): Promise<void>;
  readonly url: string;
  readonly app: FastifyInstance;
  readonly db: Database;
  readonly audit: AuditLog;
  readonly catalog: CatalogStore;
  readonly consoles: ConsoleService;
  readonly access: AccessRequests;
  readonly signer: Signer;
  readonly checkpointer: Checkpointer;
  readonly replay: Replay;
  readonly retention: Retention;
  /** Moves sealed recordings to object storage; null with the postgres store. */
  readonly mover: RecordingMover | null;
  /** This process's instance id (`brokers.id`, the label on its containers). */
  readonly instanceId: string;
  /** The SSH front door's port, when it listens. */
  readonly sshPort: number | undefined;
  close(): Promise<void>;
}

export interface BrokerOptions {
  /** The broker's environment, for catalogue `fromEnv` references. */
  env: Readonly<Record<string, string | undefined>>;
  webDir?: string;
  /**
   * LISTEN for control doorbells on a connection of its own (default true). The embedded
   * PGlite takes one connection only; there the once-a-second control pass does it all.
   */
  listen?: boolean;
}

export async function startBroker(config: Config, options: BrokerOptions): Promise<Broker> {
  const db = openDatabase(config.databaseUrl, { poolSize: config.databasePoolSize });
  let closing: Promise<void> | undefined;
  let instance: BrokerInstance | undefined;
  try {
    // The owner's role migrates at start; an application role only checks, read-only.
    if (config.autoMigrate) await migrate(db, MIGRATIONS_DIR);
    else await checkSchema(db, MIGRATIONS_DIR);
    // Which deployment this database is: containers are labelled with it, and only its brokers
    // remove them (a restored copy started beside production is another deployment).
    const deployment = await deploymentIdentity(db);
    const metrics = createMetrics({ db, auditActions: AUDIT_ACTIONS, endCodes: END_CODES });
    // Every audit event, once committed, is also one structured log line for a SIEM; those
    // committed before the logger exists (catalogue loaded, broker started) wait for it.
    const securityLog = securityLogLines();
    const audit = createAuditLog(db, {
      onAppended: metrics.auditAppended,
      onCommitted: (row) => {
        securityLog.write(row);
        metrics.auditEvent(row.action);
      },
    });
    const catalog = await openCatalogStore(config.catalogPath, { requireDigest: config.requireImageDigest, env: options.env }, audit);
    metrics.readCatalog(() => ({ targets: catalog.current().targets.map((t) => t.name), sha256: catalog.current().sha256 }));
    const identity = createIdentity({ config, db, audit, rp: createRelyingParty(config) });
    const fleet = createFleetPool({
      ca: config.fleet.ca.key === undefined ? undefined : parsePrivateKeyFile(config.fleet.ca.key).key,
      sourceAddresses: config.fleet.sourceAddresses,
      certificateSeconds: config.fleet.certificateSeconds,
      connectTimeoutMs: config.fleet.connectTimeoutSeconds * 1000,
      nodes: () => catalog.current().nodes,
      onRefused: (node, err) =>
        void audit
          .append({ actor: 'system', action: 'node.refused', subject: node.name, details: { node: node.name, code: err.code, message: err.message } })
          .catch(() => undefined),
    });
    const runtimes = new Map<string, Runtime>([
      ['docker', createDockerRuntime({ dockerHost: config.runtime.dockerHost, dockerTls: config.runtime.dockerTls, fleet, deployment })],
      ['ssh', createSshRuntime(fleet)],
    ]);
    const notifier = config.webhook ? createWebhookNotifier({ db, webhook: config.webhook, publicUrl: config.publicUrl, onFailure: metrics.webhookFailed }) : undefined;
    const access = createAccessRequests({
      db,
      audit,
      catalog,
      approverRoleGroups: [...config.roles.approver, ...config.roles.admin],
      reauthMaxAgeSeconds: config.access.reauthMaxAgeSeconds,
      notify: notifier?.notify,
      consoleCaps: config.consoles,
    });
    const self = await registerInstance({ db, audit, prefix: config.broker.prefix, version: PACKAGE_VERSION, mode: config.mode, leaseSeconds: config.broker.leaseSeconds });
    instance = self;
    // Where sealed recordings go: PostgreSQL, or an S3 bucket (storage/), read wherever they are.
    const objects = createObjectStore(config.recordings.store);
    const replay = createReplay({ db, brokerId: self.id, objects });
    const signer = await createSigner(config.signing.key, config.signing.previous);
    // Each checkpoint also leaves as a log line: a copy outside the database, for verify --checkpoints.
    let log: FastifyInstance['log'] | undefined;
    const checkpointer = createCheckpointer({
      db,
      signer,
      issuer: config.publicUrl,
      everyMs: config.signing.checkpointIntervalSeconds * 1000,
      stateFile: config.signing.checkpointStateFile,
      // In its own transaction: the refused one rolled back. Said once per distinct reason.
      refused: async (reason) => {
        await audit.append({ actor: 'system', action: 'audit.checkpoint_refused', details: { reason } });
      },
      restored: (message) => log?.warn({ alert: 'audit_restored' }, message),
      published: async (c, tx) => {
        const copy = { n: c.n, seq: c.seq, hash: c.hash, kid: c.kid, jws: c.jws };
        log?.info({ checkpoint: copy }, 'audit checkpoint signed');
        if (notifier && config.webhook?.checkpoints) await notifier.checkpoint(tx, copy);
      },
    });
    const consoles = createConsoleService({
      db,
      audit,
      catalog,
      runtimes,
      access,
      brokerId: self.id,
      deployment,
      loginIdleSeconds: config.session.idleTimeoutSeconds,
      inputBytesPerSecond: config.consoles.inputBytesPerSecond,
      reattachSeconds: config.consoles.reattachSeconds,
      recordingBuffer: config.recordings.buffer,
      metrics,
    });
    metrics.readConsoles(() => consoles.levels());
    const recordings = createRecordings({ db, audit, replay, objects, bundle: (sessionId) => buildBundle(db, sessionId, signer.jwks(), objects) });
    const retention = createRetention({ db, audit, catalog, objects, defaultSeconds: config.recordings.retentionSeconds });
    const mover = objects ? createRecordingMover({ db, audit, objects }) : null;
    // Brokers that died (this host's previous run, or any other) may have left live sessions
    // and their containers: take them over before serving.
    const recovered = await consoles.recover().catch((err: unknown) => ({ error: err }));
    const shipped = readMigrations(MIGRATIONS_DIR).map((m) => m.version);
    // Event and checkpoint times come from the database; a broker whose own clock is off still
    // misdates its logs, certificates and expiries, so it says so at start and on /readyz.
    let clockSkewSeconds: number | null = await measureClockSkew(db).catch(() => null);
    if (clockSkewSeconds !== null && Math.abs(clockSkewSeconds) > MAX_CLOCK_SKEW_SECONDS) {
      process.stderr.write(`sallyport: warning: ${clockSkewText(clockSkewSeconds)}\n`);
    }
    metrics.readEvidence(() => ({ checkpointRefused: checkpointer.refusal() !== null, clockSkewSeconds }));
    let draining = false;
    const readiness = {
      async check() {
        if (draining) return { ready: false as const, reason: 'draining: this broker is restarting' };
        try {
          const pending = await pendingMigrations(db, shipped);
          if (pending.length > 0) return { ready: false as const, reason: `migrations not applied: ${pending.join(', ')}` };
          clockSkewSeconds = await measureClockSkew(db);
          const warnings = [
            ...(Math.abs(clockSkewSeconds) > MAX_CLOCK_SKEW_SECONDS ? [clockSkewText(clockSkewSeconds)] : []),
            ...(checkpointer.refusal() ? [checkpointer.refusal()!] : []),
          ];
          return { ready: true as const, warnings };
        } catch {
          return { ready: false as const, reason: 'database unreachable' };
        }
      },
    };
    const fleetView = createFleetView({ db, catalog, fleet });
    metrics.readLockdowns(() => fleetView.lockdowns());
    const sshLogins = createSshLogins({ config, db, audit, brokerId: self.id });
    const cliLogins = createCliLogins({ config, db, audit });
    let sshDoor: SshDoor | undefined;
    const sshDoorInfo = { current: () => sshDoor && { port: sshDoor.port, hostKey: sshDoor.hostKey.line, fingerprint: sshDoor.hostKey.fingerprint } };
    const app = await buildApp(
      config,
      { identity, catalog, readiness, consoles, recordings, retention, access, audit, signer, checkpointer, fleet: fleetView, sshLogins, cliLogins, sshDoor: sshDoorInfo, metrics: metrics.registry },
      { webDir: options.webDir ?? WEB_DIST_DIR },
    );
    log = app.log;
    securityLog.to(app.log);
    if ('error' in recovered) app.log.warn(`could not take over orphaned consoles: ${String((recovered.error as Error).message)}`);
    else if (recovered.brokers.length || recovered.sessions.length || recovered.consoles.length) app.log.warn(recovered, 'took over consoles of brokers that are gone');
    await app.listen({ host: config.host, port: config.port });
    if (config.sshDoor.listen) {
      const doorDeps = { config, consoles, access, logins: sshLogins, audit, catalog, log: app.log };
      try {
        sshDoor = await startSshDoor(doorDeps);
      } catch (err) {
        // Dev mode's 2222 may be another checkout's: take a free port and say which. In
        // production the configured address is the contract, so failing to bind fails the start.
        if (config.mode !== 'dev' || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
        app.log.warn(`SSH port ${config.sshDoor.listen.port} is in use; the SSH door takes a free port instead`);
        sshDoor = await startSshDoor({ ...doorDeps, config: { ...config, sshDoor: { ...config.sshDoor, listen: { ...config.sshDoor.listen, port: 0 } } } });
      }
    }
    const control = consoles.startControl();
    const stopListening = options.listen === false ? undefined : listen(config.databaseUrl, CONTROL_CHANNEL, (broker) => broker === self.id && control.kick());
    // One throttle for every loop that retries against the database (a log line a second at most).
    const background = throttleWarnings(app.log);
    const stopInstance = self.start(
      async () => {
        const r = await consoles.recover();
        if (r.brokers.length || r.sessions.length || r.consoles.length) app.log.warn(r, 'took over consoles of brokers that are gone');
      },
      () => consoles.takenOver(),
      background,
    );
    const stopNotifier = notifier?.start(background);
    const stopCheckpoints = checkpointer.start(background);
    // Every node's sshd checked against the lockdown it should run with (an SSH login each).
    const stopLockdownChecks = fleetView.start(NODE_CHECK_MS, app.log);
    const stopReplay = replay.start(background);
    const stopIndexer = startWordIndexer(db, background, config.search.indexMsPerSecond);
    const stopRetention = retention.start(background, RETENTION_PASS_MS);
    const stopMover = mover?.start(background, MOVE_PASS_MS);
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : config.port;
    const closeBroker = async (): Promise<void> => {
      // No new SSH connections; live ones are told why with the drain below, then closed.
      sshDoor?.stopAccepting();
      await stopInstance();
      await control.stop();
      await stopListening?.();
      await stopNotifier?.();
      // Drain first (sealing recordings signs checkpoints), then stop the timer.
      // Drain: live consoles are told, their recordings sealed, their containers removed.
      await consoles.shutdown();
      await sshDoor?.close();
      await self.stop().catch((err: unknown) => app.log.warn(`could not mark this broker stopped: ${(err as Error).message}`));
      // Signs the drain's recordings and the last events (console.ended, broker.stopped).
      await stopCheckpoints();
      await stopLockdownChecks();
      await stopReplay();
      await stopIndexer();
      await stopRetention();
      await stopMover?.();
      await app.close();
      await db.close();
    };
    return {
      async drain() {
        draining = true;
        sshDoor?.stopAccepting();
        app.log.info({ drainSeconds: config.broker.drainSeconds, consoles: consoles.levels().liveByTarget.size }, 'draining before shutdown');
        await consoles.drain(config.broker.drainSeconds * 1000);
      },
      url: `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`,
      app,
      db,
      audit,
      catalog,
      consoles,
      access,
      signer,
      checkpointer,
      replay,
      retention,
      mover,
      instanceId: self.id,
      sshPort: sshDoor?.port,
      // Once, however many ask (the signal handler and dev mode's own close both do): a second
      // run on a closed pool failed the final checkpoint and made a clean stop exit 1.
      close: () => (closing ??= closeBroker()),
    };
  } catch (err) {
    // Registered but never served: say so, rather than leave a row to be declared lost.
    await instance?.stop().catch(() => {});
    await db.close().catch(() => {});
    throw err;
  }
}

/** How often every fleet node's lockdown is checked (and whenever an admin opens the Fleet page). */
const NODE_CHECK_MS = 5 * 60_000;
/** How often a broker looks for recordings past their retention (any broker; each removal is claimed). */
const RETENTION_PASS_MS = 10 * 60_000;
/** How often a broker looks for sealed recordings to move to object storage (each claimed). */
const MOVE_PASS_MS = 30_000;

/** More than this between the broker's clock and the database's is worth an operator's look. */
const MAX_CLOCK_SKEW_SECONDS = 5;
const clockSkewText = (s: number) =>
  `this broker's clock is ${Math.abs(s).toFixed(1)} s ${s > 0 ? 'ahead of' : 'behind'} the database's: audit times come from the database, but logs, certificates and expiries use this clock; synchronise it (NTP)`;

/** This process's clock minus the database's, allowing for the query's own round trip. */
async function measureClockSkew(db: Database): Promise<number> {
  const t0 = Date.now();
  const theirs = await databaseClock(db);
  const mine = (t0 + Date.now()) / 2;
  return (mine - theirs.getTime()) / 1000;
}

/**
 * The security log: one line per audit event, `{ security: { seq, at, action, actor, subject,
 * details } }` with the message `security event <action>` (details never hold secrets or
 * terminal bytes: audit/log.ts). Lines written before the logger is there are kept, at most 200.
 */
function securityLogLines(): { write(row: AuditEventRow): void; to(log: FastifyInstance['log']): void } {
  let log: FastifyInstance['log'] | undefined;
  const early: AuditEventRow[] = [];
  const line = (l: FastifyInstance['log'], row: AuditEventRow) =>
    l.info({ security: { seq: row.seq, at: row.at, action: row.action, actor: row.actor, subject: row.subject, details: row.details } }, `security event ${row.action}`);
  return {
    write(row) {
      if (log) line(log, row);
      else if (early.length < 200) early.push(row);
    },
    to(l) {
      log = l;
      for (const row of early.splice(0)) line(l, row);
    },
  };
}
