// Repository: recordings moved to object storage — which object holds a recording, where each
// chunk sits in it, the mover's claim and its mark, and objects retention still has to delete.
import type { Queryable } from './database.js';

/** A chunk of a recording kept in an object: its recorded length and where it starts. */
export interface ObjectChunk {
  seq: number;
  bytes: number;
  offset: number;
  hash: string | null;
  t_end: number | null;
}

/** The object holding the recording, when it was moved (its chunk rows then hold offsets). */
export async function recordingObjectKey(db: Queryable, sessionId: string): Promise<string | null> {
  const { rows } = await db.query<{ object_key: string | null }>(`select object_key from recordings where session_id = $1 and expired_at is null`, [sessionId]);
  return rows[0]?.object_key ?? null;
}

export async function listObjectChunks(db: Queryable, sessionId: string, from = 0, to = 2 ** 31 - 1): Promise<ObjectChunk[]> {
  const { rows } = await db.query<ObjectChunk>(
    `select seq, raw_bytes as bytes, object_offset::float8 as offset, hash, t_end
       from recording_chunks where session_id = $1 and seq between $2 and $3 order by seq`,
    [sessionId, from, to],
  );
  return rows;
}

export interface RecordingToStore {
  session_id: string;
  sha256: string;
  size_bytes: string;
  started_at: Date;
}

/**
 * Claims the oldest recording ready to leave the database, locked for the caller's transaction
 * (another broker skips it): sealed, signed in a checkpoint, its keyframes built, nothing of it
 * waiting for the search index, not expired, and small enough for one upload (5 GiB).
 */
export async function claimRecordingToStore(tx: Queryable): Promise<RecordingToStore | null> {
  const { rows } = await tx.query<RecordingToStore>(
    `select r.session_id, r.sha256, r.size_bytes::text, s.started_at
       from recordings r
       join console_sessions s on s.id = r.session_id
      where r.object_key is null and r.sealed_at is not null and r.expired_at is null and r.keyframes_done
        and r.size_bytes <= 5 * 1024::bigint * 1024 * 1024
        and exists (select 1 from audit_checkpoints c where c.recording_session = r.session_id)
        and not exists (select 1 from recording_index_queue q where q.session_id = r.session_id)
      order by r.sealed_at
      limit 1
      for update of r skip locked`,
  );
  return rows[0] ?? null;
}

/** After the object is written and checked: chunk rows keep their offsets, not their bytes. */
export async function markRecordingStored(tx: Queryable, sessionId: string, objectKey: string): Promise<void> {
  await tx.query(
    `with sized as (
       select seq, coalesce(raw_bytes, octet_length(data)) as bytes from recording_chunks where session_id = $1
     ), placed as (
       select seq, bytes, sum(bytes) over (order by seq) - bytes as offset from sized
     )
     update recording_chunks c
        set object_offset = p.offset, raw_bytes = p.bytes, data = null, encoding = null
       from placed p
      where c.session_id = $1 and c.seq = p.seq`,
    [sessionId],
  );
  await tx.query(`update recordings set object_key = $2, stored_at = now() where session_id = $1`, [sessionId, objectKey]);
}

/** Objects of recordings retention removed, still to delete from the store. */
export async function expiredObjects(db: Queryable, limit: number): Promise<Array<{ session_id: string; object_key: string }>> {
  const { rows } = await db.query<{ session_id: string; object_key: string }>(
    `select session_id, object_key from recordings where expired_at is not null and object_key is not null order by expired_at limit $1`,
    [limit],
  );
  return rows;
}

export async function markObjectDeleted(db: Queryable, sessionId: string): Promise<void> {
  await db.query(`update recordings set object_key = null where session_id = $1 and expired_at is not null`, [sessionId]);
}
