// Recovery after a broker dies: claim brokers whose heartbeat lapsed (one survivor each), end
// their consoles with an honest reason, seal each recording from what reached storage (with a
// "truncated" marker), and remove the containers of every broker that is no longer alive.
// Runs at start and on every heartbeat; with no survivor, the next broker to start does it.
import type { AuditLog } from '../audit/index.js';
import { carriedElsewhere, claimLostBrokers, deadBrokers, lockOrphanedSession, lockUnsealedRecording, markConsoleReleased, type Database, type Queryable } from '../db/index.js';
import type { Runtime } from '../runtime/index.js';
import { endSession, sealStoredRecording, type EndDeps } from './end.js';
import type { EndReason } from './end-reasons.js';

export interface RecoveryDeps {
  db: Database;
  audit: AuditLog;
  runtimes: readonly Runtime[];
  brokerId: string;
  returnGrantUse(grantId: string, tx: Queryable): Promise<boolean>;
  /** This database's deployment identity (db/deployment.ts). */
  deployment?: string;
  /** Sessions this broker runs or is starting now: their consoles are never reaped. */
  ownSessions(): ReadonlySet<string>;
}

export interface Recovered {
  brokers: string[];
  sessions: string[];
  consoles: string[];
  /** Ended sessions whose recordings were sealed only now. */
  sealedLate?: string[];
  /** Containers the engine would not remove in time this pass (tried again next pass). */
  unremoved?: number;
}

/** How long the reaper waits for one container's removal before going on to the next. */
const REMOVE_TIMEOUT_MS = 15_000;

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms);
  });
  p.catch(() => undefined); // a late failure after the timeout is nobody's to handle
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** At most this many orphaned sessions per pass; the next pass takes the rest. */
const SESSIONS_PER_PASS = 500;

export async function recoverOrphans(deps: RecoveryDeps): Promise<Recovered> {
  const { db, audit } = deps;
  const brokers = await db.transaction(async (tx) => {
    const lost = await claimLostBrokers(tx, deps.brokerId);
    for (const b of lost) {
      await audit.append(
        { actor: 'system', action: 'broker.lost', subject: b.id, details: { takenOverBy: deps.brokerId, lastHeartbeat: b.heartbeat_at.toISOString() } },
        tx,
      );
    }
    return lost.map((b) => b.id);
  });

  const sessions: string[] = [];
  for (let i = 0; i < SESSIONS_PER_PASS; i++) {
    const ended = await db.transaction((tx) => endOrphan(tx, { audit, returnGrantUse: deps.returnGrantUse }));
    if (!ended) break;
    sessions.push(ended);
  }

  // Recordings whose session ended while storage refused even the seal from storage (a full
  // disk): sealed late, from what reached storage, marked truncated and audited, so they get
  // their signed checkpoint and their bundle. While storage still refuses, the next pass retries.
  const sealedLate: string[] = [];
  for (let i = 0; i < SESSIONS_PER_PASS; i++) {
    const id = await db.transaction((tx) => sealLate(tx, audit)).catch(() => null);
    if (!id) break;
    sealedLate.push(id);
  }

  const consoles: string[] = [];
  let unremoved = 0;
  for (const runtime of deps.runtimes) {
    // Something was just taken over: its consoles on fleet nodes are orphans now, not in 30 s.
    const held = await runtime.list({ everywhere: brokers.length > 0 || sessions.length > 0 });
    const dead = await deadBrokers(
      db,
      [...new Set(held.map((h) => h.brokerId))].filter((b) => b !== deps.brokerId),
    );
    const own = deps.ownSessions();
    // A console handed over (a drain) is carried by another broker than its container's label
    // names: the live row says who, and that broker's container it is.
    const carriers = await carriedElsewhere(db, held.filter((h) => dead.has(h.brokerId) || h.brokerId === deps.brokerId).map((h) => h.sessionId));
    for (const h of held) {
      // Another live broker's console, or a broker this database does not know (another
      // deployment on the same engine): never ours to touch.
      const mine = h.brokerId === deps.brokerId;
      // Another deployment's (a restored copy beside production, or production beside a copy):
      // its brokers may be alive in a database this one cannot see. Never touched. A container
      // without the label is from before 0.2.0, when nothing else could be told.
      if (deps.deployment && h.deployment !== null && h.deployment !== deps.deployment) continue;
      if (!(dead.has(h.brokerId) || (mine && !own.has(h.sessionId)))) continue;
      const carrier = carriers.get(h.sessionId);
      if (carrier !== undefined && carrier !== h.brokerId && carrier !== deps.brokerId) continue;
      if (carrier === deps.brokerId && own.has(h.sessionId)) continue;
      // One container the engine will not remove (a blocked attach, a node away) must not stop
      // the pass: each gets its own time, and the next pass tries again.
      try {
        await withTimeout(runtime.remove(h.handle), REMOVE_TIMEOUT_MS, `removing ${h.handle.id} on ${h.handle.node}`);
      } catch {
        unremoved++;
        continue;
      }
      await markConsoleReleased(db, h.sessionId).catch(() => undefined);
      consoles.push(h.sessionId);
    }
  }
  return { brokers, sessions, consoles, ...(sealedLate.length ? { sealedLate } : {}), ...(unremoved ? { unremoved } : {}) };
}

async function sealLate(tx: Queryable, audit: AuditLog): Promise<string | null> {
  const r = await lockUnsealedRecording(tx);
  if (!r) return null;
  const why = `sealed after the session ended (${r.end_reason ?? 'ended'}): storage refused it then`;
  const seal = await sealStoredRecording(tx, r.session_id, why);
  if (!seal) return null;
  await audit.append(
    { actor: 'system', action: 'recording.sealed_late', subject: r.session_id, details: { sha256: seal.sha256, chainHash: seal.chainHash, bytes: seal.size, durationSeconds: seal.durationSeconds, why } },
    tx,
  );
  return r.session_id;
}

/** Ends one orphaned session in one transaction: marker chunk, seal, end row, its event. */
async function endOrphan(tx: Queryable, deps: EndDeps): Promise<string | null> {
  const s = await lockOrphanedSession(tx);
  if (!s) return null;
  // A stopped broker that left live rows could not drain (its database was away); one the
  // database never knew is from before instance ids: both are as good as lost.
  const why: EndReason = s.stop_reason === 'stopped' ? { code: 'broker_stopped', broker: s.broker_id } : { code: 'broker_lost', broker: s.broker_id };
  await endSession(tx, deps, {
    id: s.id,
    actor: 'system',
    target: s.target,
    reason: why,
    counts: null,
    // Its broker died before the console ran: as any failed start, the grant's use comes back.
    ...(s.started ? {} : { failedStart: { image: s.image, code: 'INTERNAL', grantId: s.grant_id } }),
  });
  return s.id;
}
