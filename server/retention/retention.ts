// Retention: what is kept, and for how long. Recordings past their target's retention lose
// their bytes and index (each removal a chained audit event naming the recording and its hash);
// a legal hold exempts a session; short-lived login state is pruned. Any broker runs the pass:
// each recording is claimed with a row lock (skip locked), so two brokers never remove one twice.
import { repeatPass } from '../rate-limit.js';
import { authorizeLegalHold } from '../access/index.js';
import type { AuditLog } from '../audit/index.js';
import type { CatalogStore } from '../catalog/index.js';
import {
  expiredObjects,
  markObjectDeleted,
  expireOneRecording,
  getConsoleSession,
  getLegalHold,
  placeLegalHold,
  pruneShortLived,
  releaseLegalHold,
  type Database,
  type LegalHoldRow,
  type Pruned,
  type RetentionPolicy,
} from '../db/index.js';
import { SallyportError } from '../errors.js';
import type { Principal } from '../identity/index.js';
import type { ObjectStore } from '../storage/index.js';

/** Logins, notifications and login links are kept this long after they end (their events stay in the audit log). */
export const SHORT_LIVED_KEEP_DAYS = 30;
/** Removals per pass, each its own transaction: a first pass over years of recordings is spread over minutes. */
const PER_PASS = 200;

export interface Retention {
  /** One pass: expire what is due (at most PER_PASS recordings), prune short-lived state. */
  pass(): Promise<{ expired: string[]; pruned: Pruned }>;
  /** Runs a pass every `everyMs`; returns a stop function that waits for the pass in flight. */
  start(log: { warn(obj: object, msg: string): void }, everyMs: number): () => Promise<void>;
  hold(p: Principal, sessionId: string, reason: string): Promise<LegalHoldRow>;
  release(p: Principal, sessionId: string, reason: string): Promise<void>;
  getHold(sessionId: string): Promise<LegalHoldRow | null>;
}

export function createRetention(deps: { db: Database; audit: AuditLog; catalog: CatalogStore; defaultSeconds: number | null; objects?: ObjectStore | null }): Retention {
  const { db, audit } = deps;
  const policy = (): RetentionPolicy => ({
    targets: deps.catalog.current().targets.map((t) => ({ target: t.name, seconds: t.retention === undefined ? deps.defaultSeconds : t.retention })),
    otherwise: deps.defaultSeconds,
  });
  const session = async (p: Principal, sessionId: string) => {
    authorizeLegalHold(p);
    const s = await getConsoleSession(db, sessionId);
    if (!s) throw new SallyportError('NOT_FOUND', `no console session ${sessionId}`);
    return s;
  };
  const address = (p: Principal) => (p.clientAddress ? { clientAddress: p.clientAddress } : {});

  const retention: Retention = {
    async pass() {
      const now = policy();
      const expired: string[] = [];
      // Nothing to do while every target and the default keep for ever.
      const any = now.otherwise !== null || now.targets.some((t) => t.seconds !== null);
      while (any && expired.length < PER_PASS) {
        const id = await db.transaction(async (tx) => {
          const due = await expireOneRecording(tx, now);
          if (!due) return null;
          await audit.append(
            {
              actor: 'system',
              action: 'recording.expired',
              subject: due.session_id,
              details: { target: due.target, sha256: due.sha256, bytes: Number(due.size_bytes), endedAt: due.ended_at.toISOString(), retentionSeconds: due.retention_seconds },
            },
            tx,
          );
          return due.session_id;
        });
        if (!id) break;
        expired.push(id);
      }
      // Objects of recordings removed (now or by a pass whose deletion failed): after the
      // database says so, so a failure here leaves an object to delete, never a recording gone
      // without its event.
      if (deps.objects) {
        for (const o of await expiredObjects(db, PER_PASS)) {
          await deps.objects.remove(o.object_key);
          await markObjectDeleted(db, o.session_id);
        }
      }
      return { expired, pruned: await pruneShortLived(db, SHORT_LIVED_KEEP_DAYS) };
    },
    start(log, everyMs) {
      return repeatPass(() => retention.pass(), everyMs, log, 'retention pass failed');
    },
    async hold(p, sessionId, reason) {
      const s = await session(p, sessionId);
      await db.transaction(async (tx) => {
        const placed = await placeLegalHold(tx, { sessionId, reason, heldBy: p.userId });
        if (placed === 'none') throw new SallyportError('NOT_FOUND', `console session ${sessionId} has no recording to hold`);
        if (placed === 'expired') throw new SallyportError('CONFLICT', `the recording of ${sessionId} was already removed by retention; a hold cannot bring it back`);
        if (placed === 'held') throw new SallyportError('CONFLICT', `console session ${sessionId} is already on legal hold; release it first to change the reason`);
        await audit.append({ actor: `user:${p.userId}`, action: 'recording.held', subject: sessionId, details: { by: p.username, username: s.username, target: s.target, reason, ...address(p) } }, tx);
      });
      return (await getLegalHold(db, sessionId))!;
    },
    async release(p, sessionId, reason) {
      const s = await session(p, sessionId);
      await db.transaction(async (tx) => {
        const released = await releaseLegalHold(tx, sessionId);
        if (!released) throw new SallyportError('NOT_FOUND', `console session ${sessionId} is not on legal hold`);
        await audit.append(
          { actor: `user:${p.userId}`, action: 'recording.hold_released', subject: sessionId, details: { by: p.username, username: s.username, target: s.target, reason, heldSince: released.held_at.toISOString(), ...address(p) } },
          tx,
        );
      });
    },
    getHold: (sessionId) => getLegalHold(db, sessionId),
  };
  return retention;
}
