// Verification of the evidence a broker keeps: the audit chain with its signed checkpoints, and
// recordings against the checkpoint signed when they were sealed. `sallyport verify` and the
// tests call these; evidence bundles are verified offline by the same functions.
import type { RecordingEvidence } from '../audit/index.js';
import { listCheckpoints, readAuditEvents, readAuditHead, readStoredChunks, recordingCheckpoint, type Queryable } from '../db/index.js';
import { SallyportError } from '../errors.js';
import { verifyJws, type Jwks } from '../signing/index.js';
import { verifyAuditChain, verifyCheckpoints, type AuditReport, type EventRecord } from './audit.js';
import { verifyRecordingChunks, type RecordingReport } from './recording.js';


/** Every event, in order, a page at a time: a million events never sit in memory together. */
export async function* storedEvents(db: Queryable, afterSeq = '0', pageSize = 5000): AsyncGenerator<EventRecord> {
  let after = afterSeq;
  for (;;) {
    const rows = await readAuditEvents(db, after, pageSize);
    for (const r of rows) {
      yield { seq: r.seq, at: r.at, actor: r.actor, action: r.action, subject: r.subject, details: r.details, prevHash: r.prev_hash, hash: r.hash };
    }
    if (rows.length < pageSize) return;
    after = rows[rows.length - 1]!.seq;
  }
}

export async function verifyAuditLog(db: Queryable, jwks: Jwks): Promise<AuditReport> {
  const { valid, problem } = await verifyCheckpoints(
    (await listCheckpoints(db)).map((c) => ({ id: c.id, jws: c.jws })),
    jwks,
  );
  if (problem) {
    return { ok: false, events: 0, unchained: 0, intactThrough: null, checkpoint: null, problem, summary: problem.message };
  }
  const head = await readAuditHead(db);
  return verifyAuditChain(storedEvents(db), valid, { headSeq: head.seq });
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

export async function verifyStoredRecording(db: Queryable, sessionId: string, jwks: Jwks): Promise<RecordingReport> {
  const { evidence, checkpointId, kid } = await signedRecordingEvidence(db, sessionId, jwks);
  return verifyRecordingChunks(sessionId, readStoredChunks(db, sessionId), evidence, `signed in checkpoint ${checkpointId} by ${kid}`);
}
