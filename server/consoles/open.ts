// Opening a console, as named steps: admit (the access layer decides, a grant's use is taken),
// create the session row and its recording header, start the runtime, mark it started. Two
// transactions carry every state change with its audit event: admit + row + header +
// `access.grant_used`, then started + `console.opened`. A failed start ends the session and
// gives the grant's use back in one more.
import { randomUUID } from 'node:crypto';
import type { AccessRequests } from '../access/index.js';
import type { Principal } from '../identity/index.js';
import type { AuditLog } from '../audit/index.js';
import { targetNodes, type CatalogStore, type Target } from '../catalog/index.js';
import {
  appendRecordingChunk,
  createRecording,
  insertConsoleSession,
  linkConsoleGrant,
  markConsoleStarted,
  sealRecording,
  type Database,
  type Queryable,
} from '../db/index.js';
import { isSallyportError, SallyportError } from '../errors.js';
import { Recorder, type OutagePolicy, type RecordingStore } from '../recording/index.js';
import type { RunningConsole, Runtime } from '../runtime/index.js';
import { endSession } from './end.js';

/** Which front door a console came through, and from where. */
export interface Door {
  via: 'web' | 'ssh';
  clientAddress: string | null;
  /** The SSH client's version string; the browser door has none. */
  clientVersion?: string;
  /** The grant the user chose (a request page's Open console); absent: the most recently approved. */
  grantId?: string;
}

export interface OpenDeps {
  db: Database;
  audit: AuditLog;
  catalog: CatalogStore;
  access: AccessRequests;
  runtimes: ReadonlyMap<string, Runtime>;
  brokerId: string;
  recorderFlushMs?: number;
}

export interface Opened {
  id: string;
  target: Target;
  grantId: string | null;
  /** The grant's reason and end, to tell the user which grant the console runs under. */
  grant: { reason: string; expiresAt: Date } | null;
  running: RunningConsole;
  recorder: Recorder;
}

export function recordingStore(q: Queryable): RecordingStore {
  return {
    create: (id, header) => createRecording(q, id, header as unknown as Record<string, unknown>),
    append: (id, seq, data, chainHash, meta) => appendRecordingChunk(q, id, seq, data, chainHash, meta),
    seal: (id, seal) => sealRecording(q, id, seal),
  };
}

/**
 * Runs the open steps. `starting` holds the session id while its container exists but the
 * session is not yet live, so the reaper leaves it alone. `onRecordingFailure` is wired to the
 * recorder before the first byte is written.
 */
export async function openConsole(
  deps: OpenDeps,
  principal: Principal,
  targetName: string,
  size: { cols: number; rows: number },
  door: Door,
  hooks: { starting: Set<string>; onRecordingFailure: (id: string, err: unknown) => void; store: RecordingStore; outage?: (id: string) => OutagePolicy },
): Promise<Opened> {
  const { db, audit } = deps;
  const target = deps.catalog.current().targets.find((t) => t.name === targetName);
  if (!target) throw new SallyportError('NOT_FOUND', `no target named ${targetName}`);
  const runtime = deps.runtimes.get(target.runtime);
  if (!runtime) throw new SallyportError('RUNTIME_UNAVAILABLE', `${target.name}: runtime ${target.runtime} is not configured on this broker`);
  const id = randomUUID();
  const steps = async (): Promise<Opened> => {
    // Step 1: admit, session row, recording header, grant use — all or nothing.
    const { grantId, grant, recorder } = await db.transaction(async (tx) => {
      const { grantId, grant } = await deps.access.admitConsole(principal, target, tx, door.grantId);
      await insertConsoleSession(tx, {
        id,
        userId: principal.userId,
        target: target.name,
        runtime: runtime.name,
        // A fleet console's node is known once it has started (step 3).
        node: target.placement.length ? 'fleet' : 'local',
        image: target.image,
        command: target.command,
        brokerId: deps.brokerId,
        via: door.via,
        clientAddress: door.clientAddress,
        clientVersion: door.clientVersion ?? null,
        browserSession: principal.browserSession ? Buffer.from(principal.browserSession, 'hex') : null,
      });
      if (grantId) {
        await linkConsoleGrant(tx, id, grantId);
        await audit.append({ actor: `user:${principal.userId}`, action: 'access.grant_used', subject: grantId, details: { target: target.name, sessionId: id } }, tx);
      }
      const recorder = await startRecording(() => Recorder.start(
        hooks.store,
        id,
        {
          version: 2,
          width: size.cols,
          height: size.rows,
          timestamp: Math.floor(Date.now() / 1000),
          command: target.command.join(' '),
          title: `${target.name} — ${principal.username}`,
        },
        { recordInput: target.recordInput, flushIntervalMs: deps.recorderFlushMs, onFailure: (err) => hooks.onRecordingFailure(id, err), ...(hooks.outage ? { outage: hooks.outage(id) } : {}) },
        recordingStore(tx),
      ));
      return { grantId, grant, recorder };
    });

    // Step 2: start the runtime; a failure ends the session and returns the grant's use.
    let running: RunningConsole;
    try {
      running = await runtime.start(
        {
          sessionId: id,
          target: target.name,
          username: principal.username,
          command: target.command,
          env: target.environment,
          size,
          nodes: targetNodes(deps.catalog.current(), target),
          container:
            target.runtime === 'docker'
              ? {
                  image: target.image,
                  user: target.user,
                  workdir: target.workdir,
                  writable: target.writable,
                  limits: { memoryBytes: target.limits.memory, cpus: target.limits.cpus, pids: target.limits.pids },
                  network: target.network,
                }
              : undefined,
        },
        deps.brokerId,
      );
    } catch (err) {
      const code = err instanceof SallyportError ? err.code : 'INTERNAL';
      const seal = await recorder.seal().catch(() => null);
      await db.transaction((tx) =>
        endSession(tx, { audit, returnGrantUse: deps.access.returnGrantUse }, {
          id,
          actor: `user:${principal.userId}`,
          target: target.name,
          reason: { code: 'failed_to_start', error: code },
          counts: { exitCode: null, bytesOut: 0, bytesIn: 0 },
          recording: seal,
          // The runtime removed what it had started before it gave up.
          released: true,
          failedStart: { image: target.image, code, grantId },
        }),
      );
      throw err;
    }

    // Step 3: started, with what actually runs where.
    try {
      await db.transaction(async (tx) => {
        await markConsoleStarted(tx, id, { containerId: running.handle.id, imageId: running.artifactDigest, node: running.handle.node });
        await audit.append(
          {
            actor: `user:${principal.userId}`,
            action: 'console.opened',
            subject: id,
            details: {
              username: principal.username,
              target: target.name,
              image: target.image,
              imageId: running.artifactDigest,
              runtime: running.handle.runtime,
              node: running.handle.node,
              containerId: running.handle.id,
              ...(running.credential ? { certificate: running.credential } : {}),
              via: door.via,
              clientAddress: door.clientAddress,
              ...(door.clientVersion ? { clientVersion: door.clientVersion } : {}),
              grantId,
            },
          },
          tx,
        );
      });
    } catch (err) {
      await running.destroy().catch(() => undefined);
      await recorder.seal().catch(() => null);
      // If the row cannot be ended now either (the database is away), the control tick ends it
      // later: a live row of this broker that is neither live nor starting.
      throw err;
    }
    return { id, target, grantId, grant, running, recorder };
  };
  // From before its row exists until it is live or ended, the session is "starting": the
  // reaper and the control pass's reconciliation leave it alone.
  hooks.starting.add(id);
  try {
    return await steps();
  } finally {
    hooks.starting.delete(id);
  }
}

/**
 * A recording that cannot be started means no console (fail closed): RECORDING_FAILED, unless
 * the database is simply away (DB_UNAVAILABLE says that better). The transaction rolls back, so
 * no session row exists and no grant use is taken.
 */
async function startRecording(start: () => Promise<Recorder>): Promise<Recorder> {
  try {
    return await start();
  } catch (err) {
    if (isSallyportError(err, 'DB_UNAVAILABLE')) throw err;
    throw new SallyportError('RECORDING_FAILED', 'the recording could not be started, so the console was not opened', { cause: err });
  }
}
