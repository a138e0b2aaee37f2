// Signed checkpoints: the broker signs "the audit chain head is (seq, hash)" with its Ed25519
// key — on a timer while events arrive, and when a recording is sealed (then the recording's
// hashes, size and duration are part of the signed payload). A checkpoint fixes everything up
// to its event: rewriting history before it no longer matches a signature nobody can forge
// without the key.
import { insertCheckpoint, latestCheckpoint, readAuditHead, tryTimerCheckpointLock, type CheckpointRow, type Database, type Queryable } from '../db/index.js';
import type { Signer } from '../signing/index.js';
import { canonicalJson } from './chain.js';

export interface CheckpointPayload {
  typ: 'sallyport.audit-checkpoint';
  v: 1;
  iss: string;
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
  /** Signs whenever the head has moved and `everyMs` has passed since the last checkpoint. */
  start(log: { warn(obj: object, msg: string): void }): () => Promise<void>;
}

export function createCheckpointer(deps: { db: Database; signer: Signer; issuer: string; everyMs?: number; tickMs?: number }): Checkpointer {
  const { db, signer } = deps;
  const everyMs = deps.everyMs ?? 25_000;

  const checkpoint = async (recording?: RecordingEvidence, q: Queryable = db): Promise<CheckpointRow> => {
    const head = await readAuditHead(q);
    const signedAt = new Date();
    const payload: CheckpointPayload = {
      typ: 'sallyport.audit-checkpoint',
      v: 1,
      iss: deps.issuer,
      seq: head.seq,
      hash: head.hash,
      at: signedAt.toISOString(),
      ...(recording ? { recording } : {}),
    };
    const jws = await signer.sign(canonicalJson(payload));
    return insertCheckpoint(q, { seq: head.seq, hash: head.hash, signedAt, kid: signer.kid, jws, recordingSession: recording?.sessionId ?? null });
  };

  return {
    checkpoint,
    start(log) {
      let stopped = false;
      let pass: Promise<unknown> | undefined;
      // One stream for every broker: the timer's checkpoint is taken under a shared lock, and
      // "is one due?" is read from the table, not from what this process signed last.
      const tick = () =>
        db.transaction(async (tx) => {
          if (!(await tryTimerCheckpointLock(tx))) return;
          const prev = await latestCheckpoint(tx);
          if (prev && Date.now() - prev.signed_at.getTime() < everyMs) return;
          const head = await readAuditHead(tx);
          if (head.seq !== (prev?.seq ?? '-1')) await checkpoint(undefined, tx);
        });
      const timer = setInterval(() => {
        if (pass || stopped) return;
        pass = tick()
          .catch((err: unknown) => log.warn({}, `audit checkpoint failed, will retry: ${(err as Error).message}`))
          .finally(() => {
            pass = undefined;
          });
      }, deps.tickMs ?? 1000);
      timer.unref();
      return async () => {
        stopped = true;
        clearInterval(timer);
        await pass;
      };
    },
  };
}
