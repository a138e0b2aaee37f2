// Repository: signed audit checkpoints and the chain head they are taken from.
import type { Queryable } from './database.js';

export interface CheckpointRow {
  id: string;
  /** Consecutive from 1. */
  n: string;
  seq: string;
  hash: string;
  signed_at: Date;
  kid: string;
  jws: string;
  recording_session: string | null;
}

// Numbers leave as text (bigint), so an `order by` must name the table's column: a bare `n`
// would sort the text output column, and "99" > "627".
const COLUMNS = 'id::text, n::text, seq::text, hash, signed_at, kid, jws, recording_session';

/** The chain head now (no lock: a checkpoint signs a committed state, any recent one will do). */
export async function readAuditHead(db: Queryable): Promise<{ seq: string; hash: string }> {
  const { rows } = await db.query<{ seq: string; hash: string }>(`select seq::text, hash from audit_head where id = 1`);
  return rows[0]!;
}

/** The next checkpoint number; call with the audit head locked (lockAuditHead), as inserts are. */
export async function nextCheckpointNumber(tx: Queryable): Promise<string> {
  const { rows } = await tx.query<{ n: string }>(`select (coalesce(max(n), 0) + 1)::text as n from audit_checkpoints`);
  return rows[0]!.n;
}

export async function insertCheckpoint(
  db: Queryable,
  c: { n: string; seq: string; hash: string; signedAt: Date; kid: string; jws: string; recordingSession: string | null },
): Promise<CheckpointRow> {
  const { rows } = await db.query<CheckpointRow>(
    `insert into audit_checkpoints (n, seq, hash, signed_at, kid, jws, recording_session)
     values ($1, $2, $3, $4, $5, $6, $7) returning ${COLUMNS}`,
    [c.n, c.seq, c.hash, c.signedAt, c.kid, c.jws, c.recordingSession],
  );
  return rows[0]!;
}

export async function latestCheckpoint(db: Queryable): Promise<CheckpointRow | null> {
  const { rows } = await db.query<CheckpointRow>(`select ${COLUMNS} from audit_checkpoints order by audit_checkpoints.n desc limit 1`);
  return rows[0] ?? null;
}

/** Checkpoints numbered after `n`, in number order. */
export async function listCheckpointsAfter(db: Queryable, n: string): Promise<CheckpointRow[]> {
  const { rows } = await db.query<CheckpointRow>(`select ${COLUMNS} from audit_checkpoints where n > $1 order by audit_checkpoints.n`, [n]);
  return rows;
}

export async function listCheckpoints(db: Queryable): Promise<CheckpointRow[]> {
  const { rows } = await db.query<CheckpointRow>(`select ${COLUMNS} from audit_checkpoints order by audit_checkpoints.seq, audit_checkpoints.n`);
  return rows;
}

/** The checkpoint signed when this recording was sealed. */
export async function recordingCheckpoint(db: Queryable, sessionId: string): Promise<CheckpointRow | null> {
  const { rows } = await db.query<CheckpointRow>(
    `select ${COLUMNS} from audit_checkpoints where recording_session = $1 order by audit_checkpoints.id limit 1`,
    [sessionId],
  );
  return rows[0] ?? null;
}

/** The first checkpoint at or after this event: the one that vouches for it. */
export async function checkpointCovering(db: Queryable, seq: string): Promise<CheckpointRow | null> {
  const { rows } = await db.query<CheckpointRow>(`select ${COLUMNS} from audit_checkpoints where seq >= $1 order by audit_checkpoints.seq, audit_checkpoints.id limit 1`, [seq]);
  return rows[0] ?? null;
}

/**
 * Sealed recordings of ended sessions still waiting for their signed checkpoint, locked for the
 * caller's transaction (`skip locked`: of N brokers, one signs each).
 */
export async function claimRecordingsToCheckpoint(
  tx: Queryable,
  limit = 20,
): Promise<Array<{ session_id: string; sha256: string; chain_hash: string; size_bytes: string; duration_seconds: number }>> {
  const { rows } = await tx.query(
    `select r.session_id, r.sha256, r.chain_hash, r.size_bytes::text, r.duration_seconds
       from recordings r
       join console_sessions s on s.id = r.session_id and s.ended_at is not null
      where r.sealed_at is not null and r.checkpointed_at is null
      order by r.sealed_at
      limit $1
      for update of r skip locked`,
    [limit],
  );
  return rows;
}

export async function markRecordingCheckpointed(tx: Queryable, sessionId: string): Promise<void> {
  await tx.query(`update recordings set checkpointed_at = now() where session_id = $1`, [sessionId]);
}

/** "ckpt-tim" in ASCII: the lock that makes the timer's checkpoints one stream for all brokers. */
const TIMER_LOCK = 0x636b70742d74696dn;

/** Takes the timer-checkpoint lock for the caller's transaction; false if another broker has it. */
export async function tryTimerCheckpointLock(tx: Queryable): Promise<boolean> {
  const { rows } = await tx.query<{ got: boolean }>(`select pg_try_advisory_xact_lock($1) as got`, [TIMER_LOCK.toString()]);
  return rows[0]!.got;
}
