// Recovery after a broker dies: claim brokers whose heartbeat lapsed (one survivor each), end
// their consoles with an honest reason, seal each recording from what reached storage (with a
// "truncated" marker), and remove the containers of every broker that is no longer alive.
// Runs at start and on every heartbeat; with no survivor, the next broker to start does it.
import type { AuditLog } from '../audit/index.js';
import {
  appendRecordingChunk,
  claimLostBrokers,
  deadBrokers,
  endOrphanedSession,
  getRecording,
  lockOrphanedSession,
  readStoredChunks,
  sealRecording,
  type Database,
  type Queryable,
} from '../db/index.js';
import { sealStoredChunks, type RecordingSeal } from '../recording/index.js';
import type { Runtime } from '../runtime/index.js';
import { consoleEndedEvent, endMessage, type EndReason } from './end-reasons.js';

export interface RecoveryDeps {
  db: Database;
  audit: AuditLog;
  runtimes: readonly Runtime[];
  brokerId: string;
  /** Sessions this broker runs or is starting now: their consoles are never reaped. */
  ownSessions(): ReadonlySet<string>;
}

export interface Recovered {
  brokers: string[];
  sessions: string[];
  consoles: string[];
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
    const ended = await db.transaction((tx) => endOrphan(tx, audit));
    if (!ended) break;
    sessions.push(ended);
  }

  const consoles: string[] = [];
  for (const runtime of deps.runtimes) {
    // Something was just taken over: its consoles on fleet nodes are orphans now, not in 30 s.
    const held = await runtime.list({ everywhere: brokers.length > 0 || sessions.length > 0 });
    const dead = await deadBrokers(
      db,
      [...new Set(held.map((h) => h.brokerId))].filter((b) => b !== deps.brokerId),
    );
    const own = deps.ownSessions();
    for (const h of held) {
      // Another live broker's console, or a broker this database does not know (another
      // deployment on the same engine): never ours to touch.
      const mine = h.brokerId === deps.brokerId;
      if (!(dead.has(h.brokerId) || (mine && !own.has(h.sessionId)))) continue;
      await runtime.remove(h.handle);
      consoles.push(h.sessionId);
    }
  }
  return { brokers, sessions, consoles };
}

/**
 * The seal of a recording whose recorder could not seal it (its broker died, or its database was
 * away): the existing seal if it was sealed after all, else one computed from the stored chunks
 * with a marker chunk saying why it ends early. In the caller's transaction.
 */
export async function sealStoredRecording(tx: Queryable, sessionId: string, why: string): Promise<RecordingSeal | null> {
  const rec = await getRecording(tx, sessionId);
  if (!rec) return null;
  if (rec.sealed_at && rec.sha256 && rec.chain_hash) {
    return { sha256: rec.sha256, chainHash: rec.chain_hash, size: Number(rec.size_bytes), durationSeconds: rec.duration_seconds ?? 0 };
  }
  const truncated = await sealStoredChunks(readStoredChunks(tx, sessionId), why);
  if (!truncated) return null;
  const m = truncated.marker;
  await appendRecordingChunk(tx, sessionId, m.seq, m.data, m.chainHash, { tStart: m.t, tEnd: m.t, hasOutput: false, commands: [] });
  await sealRecording(tx, sessionId, truncated.seal, why);
  return truncated.seal;
}

/** Ends one orphaned session in one transaction: marker chunk, seal, end row, `console.ended`. */
async function endOrphan(tx: Queryable, audit: AuditLog): Promise<string | null> {
  const s = await lockOrphanedSession(tx);
  if (!s) return null;
  // A stopped broker that left live rows could not drain (its database was away); one the
  // database never knew is from before instance ids: both are as good as lost.
  const why: EndReason = s.stop_reason === 'stopped' ? { code: 'broker_stopped', broker: s.broker_id } : { code: 'broker_lost', broker: s.broker_id };
  const reason = endMessage(why);
  const seal = await sealStoredRecording(tx, s.id, reason);
  await endOrphanedSession(tx, s.id, { reason, code: why.code });
  await audit.append(consoleEndedEvent('system', s.id, s.target, why, null, seal), tx);
  return s.id;
}
