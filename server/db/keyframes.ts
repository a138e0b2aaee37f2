// Repository: what the player needs to seek — chunk time spans, keyframes, chunk ranges.
import { decodeChunks, RECORDED_BYTES } from './chunk-codec.js';
import type { Queryable } from './database.js';

export interface ChunkSpan {
  seq: number;
  t_start: number | null;
  t_end: number | null;
  bytes: number;
}

export async function listChunkSpans(db: Queryable, sessionId: string): Promise<ChunkSpan[]> {
  const { rows } = await db.query<ChunkSpan>(
    `select seq, t_start, t_end, ${RECORDED_BYTES()} as bytes from recording_chunks where session_id = $1 order by seq`,
    [sessionId],
  );
  return rows;
}

/** Chunks from..to (inclusive), capped in count; the player asks for a window around the playhead. */
export async function readChunkRange(db: Queryable, sessionId: string, from: number, to: number): Promise<Array<{ seq: number; data: Buffer }>> {
  const { rows } = await db.query<{ seq: number; data: Buffer; encoding: string | null }>(
    `select seq, data, encoding from recording_chunks where session_id = $1 and seq between $2 and $3 order by seq`,
    [sessionId, from, to],
  );
  return decodeChunks(rows);
}

export interface KeyframeRow {
  n: number;
  t: number;
  after_chunk: number;
  cols: number;
  rows: number;
  screen: string;
}

export async function insertKeyframe(db: Queryable, sessionId: string, k: { n: number; t: number; afterChunk: number; cols: number; rows: number; screen: string }): Promise<void> {
  await db.query(
    `insert into recording_keyframes (session_id, n, t, after_chunk, cols, rows, screen) values ($1, $2, $3, $4, $5, $6, $7)
     on conflict do nothing`,
    [sessionId, k.n, k.t, k.afterChunk, k.cols, k.rows, k.screen],
  );
}

/**
 * Claims a sealed recording's keyframe build for `leaseSeconds`; false when it is done or another
 * broker holds an unexpired claim. Each claim is counted (`keyframes_builds`).
 */
export async function claimKeyframeBuild(db: Queryable, sessionId: string, brokerId: string, leaseSeconds = 300): Promise<boolean> {
  const { rowCount } = await db.query(
    `update recordings
        set keyframes_claimed_by = $2, keyframes_claimed_until = now() + make_interval(secs => $3), keyframes_builds = keyframes_builds + 1
      where session_id = $1 and sealed_at is not null and not keyframes_done
        and (keyframes_claimed_until is null or keyframes_claimed_until < now())`,
    [sessionId, brokerId, leaseSeconds],
  );
  return (rowCount ?? 0) > 0;
}

export async function markKeyframesDone(db: Queryable, sessionId: string): Promise<void> {
  await db.query(`update recordings set keyframes_done = true where session_id = $1`, [sessionId]);
}

export async function listKeyframes(db: Queryable, sessionId: string): Promise<Array<Omit<KeyframeRow, 'screen'>>> {
  const { rows } = await db.query<Omit<KeyframeRow, 'screen'>>(
    `select n, t, after_chunk, cols, rows from recording_keyframes where session_id = $1 order by n`,
    [sessionId],
  );
  return rows;
}

export async function getKeyframe(db: Queryable, sessionId: string, n: number): Promise<KeyframeRow | null> {
  const { rows } = await db.query<KeyframeRow>(`select n, t, after_chunk, cols, rows, screen from recording_keyframes where session_id = $1 and n = $2`, [sessionId, n]);
  return rows[0] ?? null;
}

/** Sealed recordings still without keyframes (after a restart). */
export async function recordingsWithoutKeyframes(db: Queryable, limit = 100): Promise<string[]> {
  const { rows } = await db.query<{ session_id: string }>(
    `select session_id from recordings
      where sealed_at is not null and not keyframes_done and (keyframes_claimed_until is null or keyframes_claimed_until < now())
      order by sealed_at limit $1`,
    [limit],
  );
  return rows.map((r) => r.session_id);
}
