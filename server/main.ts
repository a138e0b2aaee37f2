// Composition root: config → adapters (db, audit) → services (catalog, identity) → front door
// (http). The only module that knows every concrete piece. It starts and stops a broker; the
// CLI decides which config and which signals.
import type { FastifyInstance } from 'fastify';
import { createAuditLog, type AuditLog } from './audit/index.js';
import { openCatalogStore, type CatalogStore } from './catalog/index.js';
import type { Config } from './config/index.js';
import { migrate, openDatabase, pendingMigrations, readMigrations, type Database } from './db/index.js';
import { buildApp } from './http/index.js';
import { createIdentity, createRelyingParty } from './identity/index.js';
import { createConsoleService, type ConsoleService } from './consoles/index.js';
import { createAccessRequests, type AccessRequests } from './access/index.js';
import { createWebhookNotifier } from './notify/index.js';
import { createSigner, type Signer } from './signing/index.js';
import { createCheckpointer, type Checkpointer } from './audit/index.js';
import { buildBundle } from './bundle/index.js';
import { createReplay, type Replay } from './replay/index.js';
import { createDockerRuntime } from './runtime/index.js';
import { MIGRATIONS_DIR, WEB_DIST_DIR } from './paths.js';

export const VERSION = '0.1.0';

export interface Broker {
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
  close(): Promise<void>;
}

export interface BrokerOptions {
  /** The broker's environment, for catalogue `fromEnv` references. */
  env: Readonly<Record<string, string | undefined>>;
  webDir?: string;
}

export async function startBroker(config: Config, options: BrokerOptions): Promise<Broker> {
  const db = openDatabase(config.databaseUrl, { poolSize: config.databasePoolSize });
  try {
    await migrate(db, MIGRATIONS_DIR);
    const audit = createAuditLog(db);
    const catalog = await openCatalogStore(config.catalogPath, { requireDigest: config.requireImageDigest, env: options.env }, audit);
    const identity = createIdentity({ config, db, audit, rp: createRelyingParty(config) });
    const runtime = createDockerRuntime({ brokerId: config.runtime.brokerId, dockerHost: config.runtime.dockerHost });
    const notifier = config.webhook ? createWebhookNotifier({ db, webhook: config.webhook, publicUrl: config.publicUrl }) : undefined;
    const access = createAccessRequests({
      db,
      audit,
      catalog,
      approverRoleGroups: [...config.roles.approver, ...config.roles.admin],
      reauthMaxAgeSeconds: config.access.reauthMaxAgeSeconds,
      notify: notifier?.notify,
    });
    const replay = createReplay({ db });
    const signer = await createSigner(config.signing.key, config.signing.previous);
    const checkpointer = createCheckpointer({ db, signer, issuer: config.publicUrl, everyMs: config.signing.checkpointIntervalSeconds * 1000 });
    const consoles = createConsoleService({
      db,
      audit,
      catalog,
      runtime,
      access,
      brokerId: config.runtime.brokerId,
      env: options.env,
      replay,
      bundle: (sessionId) => buildBundle(db, sessionId, signer.jwks()),
      onRecordingSealed: async (recording) => {
        replay.enqueue(recording.sessionId);
        await checkpointer.checkpoint(recording);
      },
    });
    // A previous run that crashed may have left live sessions and their containers.
    const recovered = await consoles.recover().catch((err: unknown) => ({ error: err }));
    const shipped = readMigrations(MIGRATIONS_DIR).map((m) => m.version);
    const readiness = {
      async check() {
        try {
          const pending = await pendingMigrations(db, shipped);
          if (pending.length > 0) return { ready: false as const, reason: `migrations not applied: ${pending.join(', ')}` };
          return { ready: true as const };
        } catch {
          return { ready: false as const, reason: 'database unreachable' };
        }
      },
    };
    const app = await buildApp(config, { identity, catalog, readiness, consoles, access, audit, signer }, { webDir: options.webDir ?? WEB_DIST_DIR });
    if ('error' in recovered) app.log.warn(`could not reap orphaned consoles: ${String((recovered.error as Error).message)}`);
    else if (recovered.sessions.length || recovered.containers.length) app.log.warn(recovered, 'ended consoles left by a previous run');
    await app.listen({ host: config.host, port: config.port });
    await audit.append({ actor: 'system', action: 'broker.started', details: { version: VERSION, mode: config.mode } });
    const stopEnforcing = consoles.enforceGrants();
    const stopNotifier = notifier?.start(app.log);
    const stopCheckpoints = checkpointer.start(app.log);
    await replay.catchUp();
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : config.port;
    return {
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
      async close() {
        stopEnforcing();
        await stopNotifier?.();
        // Drain first (sealing recordings signs checkpoints), then stop the timer.
        // Drain: live consoles are told, their recordings sealed, their containers removed.
        await consoles.shutdown();
        await stopCheckpoints();
        await replay.idle();
        await app.close();
        await db.close();
      },
    };
  } catch (err) {
    await db.close().catch(() => {});
    throw err;
  }
}
