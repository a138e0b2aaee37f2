// Verifies the audit hash chain and its signed checkpoints, and locates the first event that
// was changed, removed or inserted. Works on any ordered stream of events (the database, or
// the excerpt in an evidence bundle), so the same code runs online and offline.
import { createHash } from 'node:crypto';
import { GENESIS_HASH, hashEvent, linkHash, type ChainedFields, type CheckpointPayload } from '../audit/index.js';
import { verifyJws, type Jwks } from '../signing/index.js';

/** A stored event: the fields the chain hashes, as read back (hashes absent before the chain). */
export interface EventRecord extends Omit<ChainedFields, 'prevHash'> {
  prevHash: string | null;
  hash: string | null;
  /**
   * In a bundle, events of other sessions carry only their subject commitment and content hash
   * (chain version 2): the link is recomputed from them, the content is not shown.
   */
  redacted?: { subjectCommitment: string | null; contentHash: string };
}

export interface CheckpointRecord {
  id: string;
  jws: string;
}

export interface VerifiedCheckpoint {
  id: string;
  kid: string;
  payload: CheckpointPayload;
  /** SHA-256 of the JWS as signed: what the next checkpoint's `prev` names. */
  jwsSha256: string;
}

/** What a checkpoint's `prev` holds for the one before it. */
export const checkpointDigest = (jws: string) => createHash('sha256').update(jws.trim(), 'utf8').digest('hex');

/** `unverified`: nothing was found altered, but events old enough to be signed are covered by no checkpoint. */
export type ProblemKind = 'changed' | 'removed' | 'inserted' | 'broken' | 'checkpoint' | 'unverified' | 'time';

export interface AuditReport {
  ok: boolean;
  events: number;
  /** Events from before the chain existed (written before migration 007). */
  unchained: number;
  /** The last event that verified before the first problem (or the last event). */
  intactThrough: string | null;
  /** The latest valid checkpoint that vouches for events up to intactThrough. */
  checkpoint: { id: string; seq: string; at: string; kid: string } | null;
  problem: { seq: string | null; kind: ProblemKind; message: string } | null;
  /**
   * The database was restored from a backup, recorded in the chain (`sallyport restored`): events
   * and checkpoints signed after the backup, known from copies kept elsewhere, are the gap.
   */
  restored?: { seq: string; at: string; reason: string; throughSeq: string; lastCheckpoint: string | null; gap: { checkpoints: string[]; throughSeq: string } | null };
  summary: string;
}

/** How far ahead of the verifier's clock an event may be dated (the verifier's clock may be off too). */
export const DEFAULT_CLOCK_TOLERANCE_MS = 5 * 60_000;
/** The database's clock may be stepped back a little by time synchronisation. */
const BACKWARDS_TOLERANCE_MS = 10_000;

/** Verifies checkpoint signatures; the first bad one is returned as a problem. */
export async function verifyCheckpoints(
  rows: readonly CheckpointRecord[],
  jwks: Jwks,
): Promise<{ valid: VerifiedCheckpoint[]; problem: AuditReport['problem'] }> {
  const valid: VerifiedCheckpoint[] = [];
  for (const row of rows) {
    try {
      const { payload, kid } = await verifyJws(row.jws, jwks);
      const parsed = JSON.parse(payload) as CheckpointPayload;
      if (parsed.typ !== 'sallyport.audit-checkpoint') throw new Error('not an audit checkpoint');
      valid.push({ id: row.id, kid, payload: parsed, jwsSha256: checkpointDigest(row.jws) });
    } catch (err) {
      return { valid, problem: { seq: null, kind: 'checkpoint', message: `checkpoint ${row.id} does not verify: ${(err as Error).message}` } };
    }
  }
  valid.sort((a, b) => (BigInt(a.payload.seq) < BigInt(b.payload.seq) ? -1 : BigInt(a.payload.seq) > BigInt(b.payload.seq) ? 1 : 0));
  return { valid, problem: null };
}

/**
 * Walks the events in order. `from` says where the stream starts: the beginning of the log
 * (checks the chain starts at the genesis hash) or a known event (an excerpt in a bundle).
 */
export async function verifyAuditChain(
  events: AsyncIterable<EventRecord> | Iterable<EventRecord>,
  checkpoints: readonly VerifiedCheckpoint[],
  options: {
    from?: { seq: string; hash: string } | 'start';
    headSeq?: string;
    /** The time now by a clock the attacker does not set (the database's, or the verifier's own). */
    now?: Date;
    /** How far an event may lie in the future of `now`, or before the event ahead of it (clocks drift). */
    clockToleranceMs?: number;
  } = {},
): Promise<AuditReport> {
  const now = options.now ?? new Date();
  const tolerance = options.clockToleranceMs ?? DEFAULT_CLOCK_TOLERANCE_MS;
  let prevAt: { at: number; seq: string } | null = null;
  const from = options.from ?? 'start';
  let expectedSeq: bigint | null = from === 'start' ? null : BigInt(from.seq) + 1n;
  let prevHash: string | null = from === 'start' ? null : from.hash;
  let prevSeq: string | null = from === 'start' ? null : from.seq;
  let chainStarted = from !== 'start';
  let count = 0;
  let unchained = 0;
  let lastGood: string | null = prevSeq;
  const recent: Array<[string, string]> = []; // [hash, seq] of the last few events
  const bySeq = new Map<string, VerifiedCheckpoint[]>();
  for (const c of checkpoints) bySeq.set(c.payload.seq, [...(bySeq.get(c.payload.seq) ?? []), c]);
  let vouched: VerifiedCheckpoint | null = null;

  const report = (problem: AuditReport['problem']): AuditReport => {
    const cp = vouched ? { id: vouched.id, seq: vouched.payload.seq, at: vouched.payload.at, kid: vouched.kid } : null;
    const through = lastGood === null ? 'no event' : `event ${lastGood}`;
    const signed = cp ? ` / checkpoint ${cp.id} (event ${cp.seq}, signed ${cp.at} by ${cp.kid})` : ' / no signed checkpoint yet';
    const summary = problem ? `${problem.message}; intact through ${through}${signed}` : `intact through ${through}${signed}`;
    return { ok: !problem, events: count, unchained, intactThrough: lastGood, checkpoint: cp, problem, summary };
  };

  for await (const e of events) {
    count++;
    const seq = BigInt(e.seq);
    if (expectedSeq !== null && seq !== expectedSeq) {
      const missing = seq - 1n === expectedSeq ? `event ${expectedSeq} was` : `events ${expectedSeq}…${seq - 1n} were`;
      return report({ seq: String(expectedSeq), kind: 'removed', message: `${missing} removed` });
    }
    expectedSeq = seq + 1n;
    if (e.hash === null || e.prevHash === null) {
      if (chainStarted) return report({ seq: e.seq, kind: 'changed', message: `event ${e.seq} was changed (its hash was removed)` });
      unchained++;
      prevSeq = e.seq;
      continue;
    }
    if (!chainStarted) {
      chainStarted = true;
      prevHash = GENESIS_HASH;
    }
    if (e.prevHash !== prevHash) {
      const followed = recent.find(([h]) => h === e.prevHash);
      if (followed && prevSeq !== null) {
        return report({ seq: prevSeq, kind: 'inserted', message: `event ${prevSeq} was inserted (event ${e.seq} was written right after event ${followed[1]})` });
      }
      return report({ seq: e.seq, kind: 'broken', message: `event ${e.seq} does not follow event ${prevSeq ?? '(start)'}: an event before it was removed or replaced` });
    }
    if (e.redacted && e.v !== 2) {
      // A version-1 hash covers the content itself: without it, the link cannot be recomputed, and
      // taking the hash on trust is what let a bundle holder rewrite everything before it.
      return report({ seq: e.seq, kind: 'broken', message: `event ${e.seq} is shown without its content but was chained before chain version 2, so its link cannot be checked: verify on the broker (sallyport verify audit)` });
    }
    const recomputed = e.redacted
      ? linkHash({ seq: e.seq, prevHash: e.prevHash, subjectCommitment: e.redacted.subjectCommitment, contentHash: e.redacted.contentHash })
      : hashEvent({ ...e, prevHash: e.prevHash });
    if (recomputed !== e.hash) return report({ seq: e.seq, kind: 'changed', message: `event ${e.seq} was changed (its content no longer matches its hash)` });
    if (!e.redacted) {
      // Times are taken from the database as events are chained: they only move forward, and none
      // lies ahead of the clock now. A moved time is tampering, whatever hash it was given.
      const at = e.at.getTime();
      if (!Number.isFinite(at) || at > now.getTime() + tolerance) {
        return report({ seq: e.seq, kind: 'time', message: `event ${e.seq} is dated ${Number.isFinite(at) ? e.at.toISOString() : 'never'}, after now (${now.toISOString()}): its time was changed` });
      }
      // Version-1 times came from each broker's own clock, which may have been skewed: only the
      // database-dated ones (version 2) must be in order.
      if (e.v === 2) {
        if (prevAt && at < prevAt.at - BACKWARDS_TOLERANCE_MS) {
          return report({ seq: e.seq, kind: 'time', message: `event ${e.seq} is dated ${e.at.toISOString()}, before event ${prevAt.seq} (${new Date(prevAt.at).toISOString()}): a time was changed` });
        }
        prevAt = { at, seq: e.seq };
      }
    }
    for (const c of bySeq.get(e.seq) ?? []) {
      if (c.payload.hash !== e.hash) {
        // Events since the last matching checkpoint verified only against a rewritten chain:
        // nothing after that checkpoint can be called intact.
        lastGood = vouched?.payload.seq ?? null;
        return report({
          seq: e.seq,
          kind: 'changed',
          message: `history after event ${vouched?.payload.seq ?? '(start)'} up to event ${e.seq} was rewritten: checkpoint ${c.id} signed a different hash for event ${e.seq}`,
        });
      }
      vouched = c;
    }
    recent.push([e.hash, e.seq]);
    if (recent.length > 4) recent.shift();
    prevHash = e.hash;
    prevSeq = e.seq;
    lastGood = e.seq;
  }
  // Name the furthest checkpoint past the end: it tells how much at least was removed.
  const beyond = checkpoints.filter((c) => lastGood === null || BigInt(c.payload.seq) > BigInt(lastGood)).at(-1);
  if (beyond) {
    const next = lastGood === null ? '1' : String(BigInt(lastGood) + 1n);
    return report({ seq: next, kind: 'removed', message: `events from ${next} were removed: checkpoint ${beyond.id} signed event ${beyond.payload.seq}` });
  }
  if (options.headSeq !== undefined && lastGood !== null && BigInt(options.headSeq) > BigInt(lastGood)) {
    const next = String(BigInt(lastGood) + 1n);
    return report({ seq: next, kind: 'removed', message: `events ${next}…${options.headSeq} were removed (the chain head is event ${options.headSeq})` });
  }
  return report(null);
}
