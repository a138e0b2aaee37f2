// Verifies the audit hash chain and its signed checkpoints, and locates the first event that
// was changed, removed or inserted. Works on any ordered stream of events (the database, or
// the excerpt in an evidence bundle), so the same code runs online and offline.
import { GENESIS_HASH, hashEvent, type ChainedFields, type CheckpointPayload } from '../audit/index.js';
import { verifyJws, type Jwks } from '../signing/index.js';

/** A stored event: the fields the chain hashes, as read back (hashes absent before the chain). */
export interface EventRecord extends Omit<ChainedFields, 'prevHash'> {
  prevHash: string | null;
  hash: string | null;
  /** In a bundle, events of other sessions carry only their hashes: links are checked, content is not. */
  redacted?: boolean;
}

export interface CheckpointRecord {
  id: string;
  jws: string;
}

export interface VerifiedCheckpoint {
  id: string;
  kid: string;
  payload: CheckpointPayload;
}

/** `unverified`: nothing was found altered, but events old enough to be signed are covered by no checkpoint. */
export type ProblemKind = 'changed' | 'removed' | 'inserted' | 'broken' | 'checkpoint' | 'unverified';

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
  summary: string;
}

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
      valid.push({ id: row.id, kid, payload: parsed });
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
  options: { from?: { seq: string; hash: string } | 'start'; headSeq?: string } = {},
): Promise<AuditReport> {
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
    const recomputed = e.redacted ? e.hash : hashEvent({ ...e, prevHash: e.prevHash });
    if (recomputed !== e.hash) return report({ seq: e.seq, kind: 'changed', message: `event ${e.seq} was changed (its content no longer matches its hash)` });
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
