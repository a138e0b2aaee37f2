// Repository: console sessions, recordings and their chunks.
import { decodeChunks, encodeChunk } from './chunk-codec.js';
import type { Queryable } from './database.js';

export interface ConsoleSessionRow {
  id: string;
  user_id: string;
  username: string;
  target: string;
  runtime: string;
  node: string;
  via: 'web' | 'ssh';
  client_address: string | null;
  client_version: string | null;
  image: string;
  image_id: string | null;
  command: string[];
  container_id: string | null;
  started_at: Date;
  /** started_at to the microsecond, as UTC ISO 8601 (a Date keeps milliseconds): for page tokens. */
  started_at_us: string;
  ended_at: Date | null;
  end_reason: string | null;
  end_code: string | null;
  /** Who asked for a terminate (set with the request, before the end). */
  terminate_by: string | null;
  exit_code: number | null;
  bytes_out: string;
  bytes_in: string;
  masked_input_chars: number | null;
  grant_id: string | null;
  sha256: string | null;
  size_bytes: string | null;
  truncated: string | null;
  /** When retention removed the recording (its hash and size stay). */
  expired_at: Date | null;
  /** Since when a legal hold keeps it. */
  held_at: Date | null;
}

export async function insertConsoleSession(
  db: Queryable,
  s: {
    id: string;
    userId: string;
    target: string;
    runtime: string;
    node: string;
    image: string;
    command: readonly string[];
    brokerId: string;
    via: 'web' | 'ssh';
    clientAddress: string | null;
    clientVersion: string | null;
    browserSession: Buffer | null;
  },
): Promise<void> {
  await db.query(
    `insert into console_sessions (id, user_id, target, runtime, node, image, command, broker_id, via, client_address, client_version, browser_session)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
    [s.id, s.userId, s.target, s.runtime, s.node, s.image, s.command, s.brokerId, s.via, s.clientAddress, s.clientVersion, s.browserSession],
  );
}

/** What runs where: the runtime's id for it, the artifact's digest ('' for none) and its node. */
export async function markConsoleStarted(db: Queryable, id: string, started: { containerId: string; imageId: string; node: string }): Promise<void> {
  await db.query(`update console_sessions set container_id = $2, image_id = nullif($3, ''), node = $4 where id = $1`, [id, started.containerId, started.imageId, started.node]);
}

export async function linkConsoleGrant(db: Queryable, id: string, grantId: string): Promise<void> {
  await db.query(`update console_sessions set grant_id = $2 where id = $1`, [id, grantId]);
}

/** Ends a live session once; returns false if it had already ended. */
export async function endConsoleSession(
  db: Queryable,
  id: string,
  e: { reason: string; code: string; exitCode: number | null; bytesOut: number; bytesIn: number; maskedInput?: number },
): Promise<boolean> {
  const { rowCount } = await db.query(
    `update console_sessions
        set ended_at = now(), end_reason = $2, end_code = $6, exit_code = $3, bytes_out = $4, bytes_in = $5, masked_input_chars = $7
      where id = $1 and ended_at is null`,
    [id, e.reason, e.exitCode, e.bytesOut, e.bytesIn, e.code, e.maskedInput ?? null],
  );
  return (rowCount ?? 0) > 0;
}

/** The console's container (or process) is gone: it no longer counts toward the caps. */
export async function markConsoleReleased(db: Queryable, id: string): Promise<void> {
  await db.query(`update console_sessions set released_at = now() where id = $1 and released_at is null`, [id]);
}

/** Ends a session whose broker is gone (its byte counts died with it); false if already ended. */
export async function endOrphanedSession(db: Queryable, id: string, e: { reason: string; code: string }): Promise<boolean> {
  const { rowCount } = await db.query(
    `update console_sessions set ended_at = now(), end_reason = $2, end_code = $3 where id = $1 and ended_at is null`,
    [id, e.reason, e.code],
  );
  return (rowCount ?? 0) > 0;
}

const SESSION_COLUMNS = `s.id, s.user_id, u.username, s.target, s.runtime, s.node, s.via, s.client_address, s.client_version, s.image, s.image_id, s.command, s.container_id,
       s.started_at, to_char(s.started_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as started_at_us, s.ended_at, s.end_reason, s.end_code, s.terminate_by, s.exit_code, s.bytes_out::text, s.bytes_in::text, s.masked_input_chars, s.grant_id,
       r.sha256, r.size_bytes::text, r.truncated, r.expired_at,
       (select h.held_at from legal_holds h where h.session_id = s.id) as held_at`;

/** What the Sessions page may narrow by; `before` pages back from a row (newest first). */
export interface SessionFilter {
  userId?: string;
  username?: string;
  target?: string;
  startedFrom?: Date;
  startedTo?: Date;
  approved?: boolean;
  via?: 'web' | 'ssh';
  live?: boolean;
  before?: { startedAt: string; id: string };
  limit: number;
}

export async function listConsoleSessions(db: Queryable, f: SessionFilter): Promise<ConsoleSessionRow[]> {
  const { rows } = await db.query<ConsoleSessionRow>(
    `select ${SESSION_COLUMNS}
       from console_sessions s
       join users u on u.id = s.user_id
       left join recordings r on r.session_id = s.id
      where ($1::uuid is null or s.user_id = $1)
        and ($2::text is null or u.username = $2)
        and ($3::text is null or s.target = $3)
        and ($4::timestamptz is null or s.started_at >= $4)
        and ($5::timestamptz is null or s.started_at < $5)
        and ($6::boolean is null or (s.grant_id is not null) = $6)
        and ($7::text is null or s.via = $7)
        and ($8::boolean is null or (s.ended_at is null) = $8)
        and ($9::timestamptz is null or (s.started_at, s.id) < ($9, $10::uuid))
      order by s.started_at desc, s.id desc
      limit $11`,
    [
      f.userId ?? null,
      f.username ?? null,
      f.target ?? null,
      f.startedFrom ?? null,
      f.startedTo ?? null,
      f.approved ?? null,
      f.via ?? null,
      f.live ?? null,
      f.before?.startedAt ?? null,
      f.before?.id ?? null,
      f.limit,
    ],
  );
  return rows;
}

export async function getConsoleSession(db: Queryable, id: string): Promise<ConsoleSessionRow | null> {
  const { rows } = await db.query<ConsoleSessionRow>(
    `select ${SESSION_COLUMNS}
       from console_sessions s
       join users u on u.id = s.user_id
       left join recordings r on r.session_id = s.id
      where s.id = $1`,
    [id],
  );
  return rows[0] ?? null;
}

export async function createRecording(db: Queryable, sessionId: string, header: Record<string, unknown>): Promise<void> {
  await db.query(`insert into recordings (session_id, header) values ($1, $2)`, [sessionId, JSON.stringify(header)]);
}

/**
 * One write per flush on the console's byte path: the chunk, and a row queuing it for the search
 * index (unindexed: the indexer reads the chunk's output back later, in batches, off this path).
 * One statement, one round trip, the chunk's bytes sent once.
 */
export async function appendRecordingChunk(
  db: Queryable,
  sessionId: string,
  seq: number,
  data: Buffer,
  chainHash: string,
  meta: {
    tStart: number;
    tEnd: number;
    hasOutput: boolean;
    commands: Array<{ t: number; line: string; masked: boolean }>;
    carry?: string;
  },
): Promise<void> {
  const stored = await encodeChunk(data);
  try {
    await insertChunk(db, sessionId, seq, stored, chainHash, data, meta);
  } catch (err) {
    // Tried again after the connection dropped mid-commit: the first try may have been stored.
    // The same chunk (its chain hash names its bytes and all before them) is success, not a clash.
    if ((err as { code?: string }).code !== '23505') throw err;
    const { rows } = await db.query<{ hash: string }>(`select hash from recording_chunks where session_id = $1 and seq = $2`, [sessionId, seq]);
    if (rows[0]?.hash !== chainHash) throw err;
  }
}

async function insertChunk(
  db: Queryable,
  sessionId: string,
  seq: number,
  stored: Awaited<ReturnType<typeof encodeChunk>>,
  chainHash: string,
  data: Buffer,
  meta: Parameters<typeof appendRecordingChunk>[5],
): Promise<void> {
  await db.query(
    `with chunk as (
       insert into recording_chunks (session_id, seq, data, hash, t_start, t_end, encoding, raw_bytes) values ($1, $2, $3, $4, $6, $7, $9, $10)
     )
     insert into recording_index_queue (session_id, seq, output_bytes, commands, carry)
     select $1::uuid, $2::integer, $5::integer, $8::jsonb, $11
      where $5::integer is not null or jsonb_array_length($8::jsonb) > 0`,
    [sessionId, seq, stored.data, chainHash, meta.hasOutput ? data.length : null, meta.tStart, meta.tEnd, JSON.stringify(meta.commands), stored.encoding, stored.rawBytes, meta.carry ?? null],
  );
}

export async function sealRecording(
  db: Queryable,
  sessionId: string,
  s: { sha256: string; chainHash: string; size: number; durationSeconds: number },
  truncated: string | null = null,
): Promise<void> {
  await db.query(
    `update recordings set sha256 = $2, size_bytes = $3, chain_hash = $4, duration_seconds = $5, sealed_at = now(), truncated = $6
      where session_id = $1 and sealed_at is null`,
    [sessionId, s.sha256, s.size, s.chainHash, s.durationSeconds, truncated],
  );
}

/**
 * One ended session whose recording was never sealed (storage refused even the seal from storage,
 * a full disk), locked for the caller's transaction; one broker takes each. Recordings without
 * even their header stored have nothing to seal and are left out.
 */
export async function lockUnsealedRecording(db: Queryable): Promise<{ session_id: string; end_reason: string | null } | null> {
  const { rows } = await db.query<{ session_id: string; end_reason: string | null }>(
    `select r.session_id, s.end_reason
       from recordings r
       join console_sessions s on s.id = r.session_id and s.ended_at is not null
      where r.sealed_at is null
        and exists (select 1 from recording_chunks c where c.session_id = r.session_id and c.seq = 0)
      order by s.ended_at
      limit 1
      for update of r skip locked`,
  );
  return rows[0] ?? null;
}

/** A stored chunk with what verification and keyframes need beside its bytes. */
export interface StoredChunk {
  seq: number;
  data: Buffer;
  hash: string | null;
  t_end: number | null;
}

/** Chunks in order, a page at a time, so a long recording is never held whole in memory. */
export async function* readStoredChunks(db: Queryable, sessionId: string, pageSize = 64): AsyncGenerator<StoredChunk> {
  let next = 0;
  for (;;) {
    const { rows } = await db.query<StoredChunk & { encoding: string | null }>(
      `select seq, data, encoding, hash, t_end from recording_chunks where session_id = $1 and seq >= $2 order by seq limit $3`,
      [sessionId, next, pageSize],
    );
    yield* await decodeChunks(rows);
    if (rows.length < pageSize) return;
    next = rows[rows.length - 1]!.seq + 1;
  }
}

export interface RecordingRow {
  session_id: string;
  header: Record<string, unknown>;
  size_bytes: string | null;
  sha256: string | null;
  chain_hash: string | null;
  duration_seconds: number | null;
  sealed_at: Date | null;
  keyframes_done: boolean;
  truncated: string | null;
  expired_at: Date | null;
}

export async function getRecording(db: Queryable, sessionId: string): Promise<RecordingRow | null> {
  const { rows } = await db.query<RecordingRow>(`select * from recordings where session_id = $1`, [sessionId]);
  return rows[0] ?? null;
}

/** The recording's bytes, chunk by chunk (downloads, bundles). */
export async function* readRecordingChunks(db: Queryable, sessionId: string): AsyncGenerator<Buffer> {
  for await (const c of readStoredChunks(db, sessionId)) yield c.data;
}
