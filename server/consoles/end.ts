// Every end of a console session goes through here, so none can skip a step: the row ended
// (once: a second end finds it ended and does nothing), the recording sealed (the recorder's own
// seal, or what reached storage, marked truncated), the grant's use given back when the console
// never ran, and the one audit event that says so — all in the caller's transaction.
import type { AuditLog } from '../audit/index.js';
import {
  appendRecordingChunk,
  endConsoleSession,
  endOrphanedSession,
  getRecording,
  markConsoleReleased,
  readStoredChunks,
  sealRecording,
  tryInSavepoint,
  type Queryable,
} from '../db/index.js';
import { sealStoredChunks, type RecordingSeal } from '../recording/index.js';
import { consoleEndedEvent, endMessage, type EndReason } from './end-reasons.js';

export interface SessionEnd {
  id: string;
  /** `user:<id>` for the console's user, `system` for the broker. */
  actor: string;
  target: string;
  reason: EndReason;
  /** What the process and the user exchanged; null when the broker that counted is gone. */
  counts: { exitCode: number | null; bytesOut: number; bytesIn: number; maskedInput?: number } | null;
  /** The recorder's own seal; absent or null: seal what reached storage (marked truncated). */
  recording?: RecordingSeal | null;
  /** The container (or process) is gone; otherwise the reaper removes it and marks it then. */
  released?: boolean;
  /** The console never ran: its grant's use is given back, and the event is console.failed. */
  failedStart?: { image: string; code: string; grantId: string | null };
}

export interface EndDeps {
  audit: AuditLog;
  returnGrantUse(grantId: string, tx: Queryable): Promise<boolean>;
}

/** Ends the session; false when it had already ended (then nothing is written). */
export async function endSession(tx: Queryable, deps: EndDeps, e: SessionEnd): Promise<boolean> {
  const reason = endMessage(e.reason);
  const ended = e.counts
    ? await endConsoleSession(tx, e.id, { ...e.counts, reason, code: e.reason.code })
    : await endOrphanedSession(tx, e.id, { reason, code: e.reason.code });
  if (!ended) return false;
  if (e.released) await markConsoleReleased(tx, e.id);
  // If even sealing from storage is refused (a full disk), the session still ends; the recovery
  // pass seals it late once storage takes writes again (recover.ts, recording.sealed_late).
  const seal = e.recording ?? (await tryInSavepoint(tx, () => sealStoredRecording(tx, e.id, reason))) ?? null;
  if (e.failedStart) {
    const { grantId, image, code } = e.failedStart;
    const returned = grantId ? await deps.returnGrantUse(grantId, tx) : false;
    await deps.audit.append(
      { actor: e.actor, action: 'console.failed', subject: e.id, details: { target: e.target, image, code, recordingSha256: seal?.sha256 ?? null, grantId, grantUseReturned: returned } },
      tx,
    );
    return true;
  }
  await deps.audit.append(consoleEndedEvent(e.actor, e.id, e.target, e.reason, e.counts, seal), tx);
  return true;
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
