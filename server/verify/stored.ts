// Verification of the evidence a broker keeps: the audit chain with its signed checkpoints, and
// recordings against the checkpoint signed when they were sealed. `sallyport verify` and the
// tests call these; evidence bundles are verified offline by the same functions.
import type { RecordingEvidence } from '../audit/index.js';
import { databaseClock, firstEventAfter, getRecording, listCheckpoints, listRestores, readAuditEvents, readAuditHead, recordingCheckpoint, recordingExpiry, type Queryable } from '../db/index.js';
import { SallyportError } from '../errors.js';
import { storedChunks, type ObjectStore } from '../storage/index.js';
import { verifyJws, type Jwks } from '../signing/index.js';
import { verifyAuditChain, verifyCheckpoints, type AuditReport, type EventRecord, type VerifiedCheckpoint } from './audit.js';
import { verifyRecordingChunks, type RecordingReport } from './recording.js';


/** Every event, in order, a page at a time: a million events never sit in memory together. */
export async function* storedEvents(db: Queryable, afterSeq = '0', pageSize = 5000): AsyncGenerator<EventRecord> {
  let after = afterSeq;
  for (;;) {
    const rows = await readAuditEvents(db, after, pageSize);
    for (const r of rows) {
      yield { v: r.chain_v, seq: r.seq, at: r.at, actor: r.actor, action: r.action, subject: r.subject, details: r.details, prevHash: r.prev_hash, hash: r.hash };
    }
    if (rows.length < pageSize) return;
    after = rows[rows.length - 1]!.seq;
  }
}

export interface AuditLogOptions {
  /** Checkpoints kept outside the database (log lines, the published endpoint, a webhook's copy). */
  external?: ReadonlyArray<{ jws: string }>;
  /**
   * Events older than this with no checkpoint covering them are UNVERIFIED: a broker signs
   * within its checkpoint interval (at most 30 s), so only deletion leaves old events unsigned.
   */
  unsignedGraceSeconds?: number;
}

export const DEFAULT_UNSIGNED_GRACE_SECONDS = 120;

/**
 * The chain and every checkpoint, the database's and any held elsewhere: a rewrite is found as
 * long as one signed checkpoint of the rewritten part survives anywhere; deleted checkpoints
 * leave a gap in their numbers; and events past the last checkpoint that are older than the
 * grace are reported UNVERIFIED, never OK.
 */
export async function verifyAuditLog(db: Queryable, jwks: Jwks, options: AuditLogOptions = {}): Promise<AuditReport> {
  const stored = await listCheckpoints(db);
  const fail = (p: NonNullable<AuditReport['problem']>): AuditReport => ({ ok: false, events: 0, unchained: 0, intactThrough: null, checkpoint: null, problem: p, summary: p.message });
  const mine = await verifyCheckpoints(stored.map((c) => ({ id: c.id, jws: c.jws })), jwks);
  if (mine.problem) return fail(mine.problem);
  const outsideRecords = (options.external ?? []).map((c, i) => ({ id: `external #${i + 1}`, jws: c.jws }));
  const outsideAll = await verifyCheckpoints(outsideRecords, jwks);
  if (outsideAll.problem) return fail(outsideAll.problem);
  // A restore from backup recorded in the chain: copies of checkpoints signed before it, past the
  // last one the backup held, belong to the history the restore lost. They are the gap it names,
  // not a rewrite (the restore event itself is chained and signed like any other).
  const restores = await listRestores(db);
  const lost = (c: VerifiedCheckpoint) =>
    restores.some((r) => c.payload.n !== undefined && BigInt(c.payload.n) > BigInt(r.details.lastCheckpoint?.n ?? '0') && Date.parse(c.payload.at) <= r.at.getTime());
  const gap = outsideAll.valid.filter(lost);
  const outside = { valid: outsideAll.valid.filter((c) => !lost(c)) };

  const head = await readAuditHead(db);
  // Times are judged by the database's clock, which the events' own times cannot move.
  const now = await databaseClock(db);
  const report = await verifyAuditChain(storedEvents(db), [...mine.valid, ...outside.valid], { headSeq: head.seq, now });
  if (!report.ok) return report;
  const problem = (kind: 'checkpoint' | 'unverified', seq: string | null, message: string): AuditReport => ({
    ...report,
    ok: false,
    problem: { seq, kind, message },
    summary: `${message}; chain consistent through event ${report.intactThrough}`,
  });

  // Numbers are consecutive and signed: a hole among the database's own is a deletion
  // (checkpoints signed before numbering carry none; the numbered ones follow them).
  const numbers = mine.valid.flatMap((c) => (c.payload.n ? [BigInt(c.payload.n)] : []));
  const have = new Set(numbers);
  const last = numbers.reduce((m, n) => (n > m ? n : m), 0n);
  for (let n = BigInt(mine.valid.length - numbers.length) + 1n; n <= last; n++) {
    if (!have.has(n)) return problem('checkpoint', null, `signed checkpoint number ${n} is missing from the database: checkpoints were deleted`);
  }
  // A copy held outside must be in the database as it was signed: its number missing, or taken
  // by another checkpoint (a broker numbers afresh after rows are deleted), is a deletion.
  const byNumber = new Map(stored.map((c) => [c.n, c.jws]));
  const jwsOf = new Map(outsideRecords.map((r) => [r.id, r.jws]));
  const restore = restores.at(-1);
  const restored: AuditReport['restored'] = restore
    ? {
        seq: restore.seq,
        at: restore.at.toISOString(),
        reason: restore.details.reason,
        throughSeq: restore.details.throughSeq,
        lastCheckpoint: restore.details.lastCheckpoint?.n ?? null,
        gap: gap.length
          ? { checkpoints: gap.map((c) => c.payload.n!).sort((a, b) => Number(a) - Number(b)), throughSeq: gap.reduce((m, c) => (BigInt(c.payload.seq) > BigInt(m) ? c.payload.seq : m), '0') }
          : null,
      }
    : undefined;
  const restoredLine = restored
    ? `; restored from a backup on ${restored.at} (event ${restored.seq}: "${restored.reason}"): the backup ends at event ${restored.throughSeq} / checkpoint ${restored.lastCheckpoint ?? 'none'}` +
      (restored.gap ? `; events ${BigInt(restored.throughSeq) + 1n}…${restored.gap.throughSeq} signed in checkpoints ${restored.gap.checkpoints.join(', ')} before the restore are the gap` : '')
    : '';
  for (const c of outside.valid) {
    if (!c.payload.n || byNumber.get(c.payload.n) === jwsOf.get(c.id)) continue;
    const taken = byNumber.has(c.payload.n) ? ' (another checkpoint now has its number)' : '';
    return problem('checkpoint', null, `signed checkpoint number ${c.payload.n} is missing from the database${taken}: checkpoints were deleted`);
  }

  // Each checkpoint names the one before it: a checkpoint replaced (or renumbered after a
  // deletion) no longer matches the digest its successor signed.
  const byN = new Map(mine.valid.flatMap((c) => (c.payload.n ? [[c.payload.n, c] as const] : [])));
  for (const c of mine.valid) {
    if (!c.payload.n || c.payload.prev === undefined) continue;
    const before = byN.get(String(BigInt(c.payload.n) - 1n));
    if (before && before.jwsSha256 !== c.payload.prev) {
      return problem('checkpoint', null, `checkpoint ${before.payload.n} is not the one checkpoint ${c.payload.n} was signed after: it was replaced`);
    }
  }

  // Unsigned for too long, judged in chain order: the checkpoint covering most, then the first
  // event after it. The chain's times only move forward (checked above), so that event's age
  // by the database's clock cannot be hidden by dating it — or any event — in the future.
  const covered = [...mine.valid, ...outside.valid].reduce((m, c) => (BigInt(c.payload.seq) > m ? BigInt(c.payload.seq) : m), 0n);
  const uncovered = await firstEventAfter(db, String(covered));
  const grace = options.unsignedGraceSeconds ?? DEFAULT_UNSIGNED_GRACE_SECONDS;
  if (uncovered && now.getTime() - uncovered.at.getTime() > grace * 1000) {
    const age = Math.round((now.getTime() - uncovered.at.getTime()) / 1000);
    return problem(
      'unverified',
      uncovered.seq,
      `events ${uncovered.seq}…${head.seq} are covered by no signed checkpoint although the oldest is ${age} s old (a broker signs within 30 s): checkpoints may have been deleted; check against a copy kept elsewhere (--checkpoints)`,
    );
  }
  const withRestore = restored ? { ...report, restored, summary: `${report.summary}${restoredLine}` } : report;
  if (!options.external?.length) {
    // Said every time: whoever can write the database can rewrite the chain and delete every
    // checkpoint, and nothing left inside it shows that.
    return { ...withRestore, summary: `${withRestore.summary}. Checked against the database alone: a rewrite that also deleted every checkpoint cannot be detected from it; check against a copy kept elsewhere (--checkpoints)` };
  }
  return withRestore;
}

/** The recording's evidence as signed when it was sealed. */
export async function signedRecordingEvidence(db: Queryable, sessionId: string, jwks: Jwks): Promise<{ evidence: RecordingEvidence; checkpointId: string; kid: string }> {
  const cp = await recordingCheckpoint(db, sessionId);
  if (!cp) throw new SallyportError('NOT_FOUND', `recording ${sessionId} has no signed checkpoint (not sealed, or recorded before signing existed)`);
  const { payload, kid } = await verifyJws(cp.jws, jwks);
  const parsed = JSON.parse(payload) as { recording?: RecordingEvidence };
  if (!parsed.recording || parsed.recording.sessionId !== sessionId) {
    throw new SallyportError('SIGNATURE_INVALID', `checkpoint ${cp.id} does not sign recording ${sessionId}`);
  }
  return { evidence: parsed.recording, checkpointId: cp.id, kid };
}

/**
 * A recording against the checkpoint signed when it was sealed. One that retention removed is
 * EXPIRED (problem kind 'expired'), never intact and never "missing": its removal must be a
 * chained recording.expired event naming the hash that was signed, or the removal is tampering.
 */
export async function verifyStoredRecording(db: Queryable, sessionId: string, jwks: Jwks, objects: ObjectStore | null = null): Promise<RecordingReport> {
  const { evidence, checkpointId, kid } = await signedRecordingEvidence(db, sessionId, jwks);
  const row = await getRecording(db, sessionId);
  if (row?.expired_at) {
    const expiry = await recordingExpiry(db, sessionId);
    const signed = `sealed as sha256 ${evidence.sha256} (${evidence.bytes} bytes), signed in checkpoint ${checkpointId} by ${kid}`;
    if (!expiry || expiry.details.sha256 !== evidence.sha256) {
      const message = `recording ${sessionId} was removed, but no recording.expired audit event names the hash it was ${signed}: it was deleted outside retention`;
      return { ok: false, sessionId, chunks: 0, bytes: 0, problem: { chunk: null, kind: 'removed', message }, summary: message };
    }
    const days = Math.round((expiry.details.retentionSeconds ?? 0) / 86400);
    const message = `recording ${sessionId} expired on ${expiry.at.toISOString()} by retention (${days} d after its console ended at ${expiry.details.endedAt}); it was ${signed}; the removal is audit event ${expiry.seq} (sallyport verify audit checks the chain it is in)`;
    return { ok: false, sessionId, chunks: 0, bytes: 0, problem: { chunk: null, kind: 'expired', message }, summary: message };
  }
  return verifyRecordingChunks(sessionId, storedChunks(db, objects, sessionId), evidence, `signed in checkpoint ${checkpointId} by ${kid}`);
}
