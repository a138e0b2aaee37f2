// Signed checkpoints: the broker signs "the audit chain head is (seq, hash)" with its Ed25519
// key — on a timer while events arrive, and after a recording is sealed and its session's end
// committed (then the recording's hashes, size and duration are part of the signed payload).
// A checkpoint fixes everything up to its event: rewriting history before it no longer matches
// a signature nobody can forge without the key.
import {
  claimRecordingsToCheckpoint,
  insertCheckpoint,
  lockAuditHead,
  nextCheckpointNumber,
  latestCheckpoint,
  markRecordingCheckpointed,
  readAuditHead,
  tryTimerCheckpointLock,
  type CheckpointRow,
  type Database,
  type Queryable,
} from '../db/index.js';
import type { Signer } from '../signing/index.js';
import { canonicalJson } from './chain.js';

export interface CheckpointPayload {
  typ: 'sallyport.audit-checkpoint';
  v: 1;
  iss: string;
  /** Consecutive from 1 (absent in checkpoints signed before numbering): a gap is a deletion. */
  n?: string;
  seq: string;
  hash: string;
  at: string;
  recording?: RecordingEvidence;
}

export interface RecordingEvidence {
  sessionId: string;
  sha256: string;
  chainHash: string;
  bytes: number;
  durationSeconds: number;
}

export interface Checkpointer {
  /** Signs the current head now (with a recording's evidence when one was just sealed). */
  checkpoint(recording?: RecordingEvidence): Promise<CheckpointRow>;
  /** The newest checkpoint, as published for copies outside the database. */
  latest(): Promise<CheckpointRow | null>;
  /**
   * Every tick: signs the checkpoints of recordings sealed since (one per recording, by one
   * broker), and the head whenever it has moved and `everyMs` has passed. Returns a stop
   * function that, once stopped, signs what is pending and the head if it moved (a clean stop
   * leaves its last events signed).
   */
  start(log: { warn(obj: object, msg: string): void }): () => Promise<void>;
}

export function createCheckpointer(deps: {
  db: Database;
  signer: Signer;
  issuer: string;
  everyMs?: number;
  tickMs?: number;
  /** Each checkpoint as it is made, in its transaction, so a copy leaves the database (log line, webhook outbox). */
  published?: (row: CheckpointRow, tx: Queryable) => Promise<void> | void;
}): Checkpointer {
  const { db, signer } = deps;
  const everyMs = deps.everyMs ?? 25_000;

  const sign = async (q: Queryable, recording?: RecordingEvidence): Promise<CheckpointRow> => {
    // Under the head's lock: the head cannot move while it is signed, and numbers stay consecutive.
    const head = await lockAuditHead(q);
    const n = await nextCheckpointNumber(q);
    const signedAt = new Date();
    const payload: CheckpointPayload = {
      typ: 'sallyport.audit-checkpoint',
      v: 1,
      iss: deps.issuer,
      n,
      seq: head.seq,
      hash: head.hash,
      at: signedAt.toISOString(),
      ...(recording ? { recording } : {}),
    };
    const jws = await signer.sign(canonicalJson(payload));
    const row = await insertCheckpoint(q, { n, seq: head.seq, hash: head.hash, signedAt, kid: signer.kid, jws, recordingSession: recording?.sessionId ?? null });
    await deps.published?.(row, q);
    return row;
  };
  const checkpoint = (recording?: RecordingEvidence, q?: Queryable): Promise<CheckpointRow> => (q ? sign(q, recording) : db.transaction((tx) => sign(tx, recording)));

  // A sealed recording's checkpoint is a job its seal's transaction created; one broker claims
  // each. The timer's checkpoint is one stream for every broker: taken under a shared lock, and
  // "is one due?" read from the table, not from what this process signed.
  const pass = (dueAfterMs: number) =>
    db.transaction(async (tx) => {
      for (const r of await claimRecordingsToCheckpoint(tx)) {
        await checkpoint(
          { sessionId: r.session_id, sha256: r.sha256, chainHash: r.chain_hash, bytes: Number(r.size_bytes), durationSeconds: r.duration_seconds },
          tx,
        );
        await markRecordingCheckpointed(tx, r.session_id);
      }
      if (!(await tryTimerCheckpointLock(tx))) return;
      const prev = await latestCheckpoint(tx);
      if (prev && Date.now() - prev.signed_at.getTime() < dueAfterMs) return;
      const head = await readAuditHead(tx);
      if (head.seq !== (prev?.seq ?? '-1')) await checkpoint(undefined, tx);
    });

  return {
    checkpoint,
    latest: () => latestCheckpoint(db),
    start(log) {
      let stopped = false;
      let running: Promise<unknown> | undefined;
      const timer = setInterval(() => {
        if (running || stopped) return;
        running = pass(everyMs)
          .catch((err: unknown) => log.warn({}, `audit checkpoint failed, will retry: ${(err as Error).message}`))
          .finally(() => {
            running = undefined;
          });
      }, deps.tickMs ?? 1000);
      timer.unref();
      return async () => {
        stopped = true;
        clearInterval(timer);
        await running;
        await pass(0).catch((err: unknown) => log.warn({}, `final audit checkpoint failed: ${(err as Error).message}`));
      };
    },
  };
}
