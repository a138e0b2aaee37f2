// Repository: live control across brokers. The live list is the live session rows of brokers
// still alive; terminate is a conditional update the owning broker acts on (NOTIFY is only the
// doorbell, it checks every second anyway); watchers are rows the owner reads to tell its user.
import { decodeChunks, RECORDED_BYTES } from './chunk-codec.js';
import type { Queryable } from './database.js';

/** The channel a broker LISTENs on for "look at your sessions now". Payload: a broker id. */
export const CONTROL_CHANNEL = 'sallyport_control';

export interface LiveSessionRow {
  id: string;
  user_id: string;
  username: string;
  target: string;
  image: string;
  broker_id: string;
  via: string;
  node: string;
  started_at: Date;
  grant_id: string | null;
  watchers: string[];
}

const LIVE = `select s.id, s.user_id, u.username, s.target, s.image, s.broker_id, s.via, s.node, s.started_at, s.grant_id,
              coalesce((select array_agg(wu.username order by w.started_at)
                          from console_watchers w
                          join users wu on wu.id = w.user_id
                          join brokers wb on wb.id = w.broker_id and wb.stopped_at is null
                         where w.session_id = s.id and w.ended_at is null), '{}') as watchers
         from console_sessions s
         join users u on u.id = s.user_id
         join brokers b on b.id = s.broker_id and b.stopped_at is null
        where s.ended_at is null`;

/** Every console live now, on every broker that is alive. */
export async function listLiveSessions(db: Queryable, limit = 1000): Promise<LiveSessionRow[]> {
  const { rows } = await db.query<LiveSessionRow>(`${LIVE} order by s.started_at desc limit $1`, [limit]);
  return rows;
}

export async function getLiveSession(db: Queryable, id: string): Promise<LiveSessionRow | null> {
  const { rows } = await db.query<LiveSessionRow>(`${LIVE} and s.id = $1`, [id]);
  return rows[0] ?? null;
}

/**
 * Asks the owning broker to end a live console (once); returns null when it is not live.
 * The NOTIFY is delivered when the caller's transaction commits.
 */
export async function requestTermination(db: Queryable, id: string, by: string, reason: string): Promise<{ broker_id: string } | null> {
  const { rows } = await db.query<{ broker_id: string }>(
    `update console_sessions
        set terminate_requested_at = now(), terminate_by = $2, terminate_reason = $3
      where id = $1 and ended_at is null and terminate_requested_at is null
     returning broker_id`,
    [id, by, reason],
  );
  const row = rows[0];
  if (row) await db.query(`select pg_notify($1, $2)`, [CONTROL_CHANNEL, row.broker_id]);
  return row ?? null;
}

export async function startWatching(db: Queryable, w: { id: string; sessionId: string; userId: string; brokerId: string; ownerBrokerId: string }): Promise<void> {
  await db.query(`insert into console_watchers (id, session_id, user_id, broker_id) values ($1, $2, $3, $4)`, [w.id, w.sessionId, w.userId, w.brokerId]);
  await db.query(`select pg_notify($1, $2)`, [CONTROL_CHANNEL, w.ownerBrokerId]);
}

export async function stopWatching(db: Queryable, id: string): Promise<void> {
  await db.query(`update console_watchers set ended_at = now() where id = $1 and ended_at is null`, [id]);
}

/** For a watcher's tail: is the session still live, and the chunks after `afterSeq`. */
export async function tailRecording(
  db: Queryable,
  sessionId: string,
  afterSeq: number,
  limit: number,
): Promise<{ ended: { reason: string } | null; chunks: Array<{ seq: number; data: Buffer }> }> {
  // Status first: chunks are stored before the session ends, so "ended and no more chunks" is final.
  const status = await db.query<{ end_reason: string | null }>(`select end_reason from console_sessions where id = $1`, [sessionId]);
  const { rows } = await db.query<{ seq: number; data: Buffer; encoding: string | null }>(
    `select seq, data, encoding from recording_chunks where session_id = $1 and seq > $2 order by seq limit $3`,
    [sessionId, afterSeq, limit],
  );
  const reason = status.rows[0]?.end_reason ?? null;
  return { ended: reason === null ? null : { reason }, chunks: await decodeChunks(rows) };
}

/**
 * The newest chunks (header excluded), oldest first, that together hold about `maxBytes` (at
 * least the newest one): sizes are read first, so only those chunks' bytes are loaded.
 */
export async function recentChunks(db: Queryable, sessionId: string, maxBytes: number): Promise<Array<{ seq: number; data: Buffer }>> {
  const { rows } = await db.query<{ seq: number; data: Buffer; encoding: string | null }>(
    `with sized as (
       select seq, sum(bytes) over (order by seq desc) as newer_and_this
         from (select seq, ${RECORDED_BYTES()} as bytes from recording_chunks where session_id = $1 and seq > 0 order by seq desc limit 256) newest
     )
     select c.seq, c.data, c.encoding
       from recording_chunks c
       join sized s on s.seq = c.seq
      where c.session_id = $1 and (s.newer_and_this <= $2 or s.seq = (select max(seq) from sized))
      order by c.seq`,
    [sessionId, maxBytes],
  );
  return decodeChunks(rows);
}

/** "cons-cap" in ASCII: serialises console admission, so two opens never both take the last place. */
const ADMISSION_LOCK = 0x636f6e732d636170n;

/**
 * Live consoles of brokers still alive: the user's, the target's and everyone's, counted under
 * the admission lock (held until the caller's transaction ends).
 */
export async function countLiveConsolesLocked(tx: Queryable, userId: string, target: string): Promise<{ user: number; target: number; total: number }> {
  await tx.query(`select pg_advisory_xact_lock($1)`, [ADMISSION_LOCK.toString()]);
  const { rows } = await tx.query<{ user: number; target: number; total: number }>(
    // Live consoles of live brokers, and ended ones whose container is not removed yet (an engine
    // that did not answer): those still hold the engine's memory and processes. Not for ever: a
    // node gone for good must not hold a user's place past an hour.
    `select count(*) filter (where s.user_id = $1)::int as user,
            count(*) filter (where s.target = $2)::int as target,
            count(*)::int as total
       from console_sessions s
       left join brokers b on b.id = s.broker_id
      where (s.ended_at is null and b.id is not null and b.stopped_at is null)
         or (s.ended_at is not null and s.released_at is null and s.ended_at > now() - interval '1 hour')`,
    [userId, target],
  );
  return rows[0]!;
}

/** What the control pass needs of one of this broker's live rows, read in one statement. */
export interface OwnLiveRow {
  id: string;
  target: string;
  image: string;
  grant_id: string | null;
  /** When that grant ends (it may be an extension the session moved to). */
  grant_expires_at: Date | null;
  /** Someone asked to terminate it: who, and why. */
  terminate_by: string | null;
  terminate_reason: string | null;
  /** Its login ended ('logout', 'expired', …), or null while the login lives (or it has none). */
  login_ended: string | null;
  /** Who watches it now (usernames, from brokers still alive). */
  watchers: string[];
  /** Where a handover of it stands (db/handover.ts), or null. */
  handover: { phase: string; takeover?: boolean; taker?: string; at?: number } | null;
}

/** Every session this broker holds according to the database, with what the control pass acts on. */
export async function ownLiveSessions(db: Queryable, brokerId: string): Promise<OwnLiveRow[]> {
  const { rows } = await db.query<OwnLiveRow>(
    `select s.id, s.target, s.image, s.grant_id, g.expires_at as grant_expires_at, s.terminate_by, s.terminate_reason,
            case when b.ended_at is not null then b.end_reason when b.expires_at <= now() then 'expired' end as login_ended,
            coalesce((select array_agg(u.username order by w.started_at)
                        from console_watchers w
                        join users u on u.id = w.user_id
                        join brokers wb on wb.id = w.broker_id and wb.stopped_at is null
                       where w.session_id = s.id and w.ended_at is null), '{}') as watchers,
            s.handover
       from console_sessions s
       left join browser_sessions b on b.id_hash = s.browser_session
       left join access_requests g on g.id = s.grant_id
      where s.broker_id = $1 and s.ended_at is null`,
    [brokerId],
  );
  return rows;
}

/** Live consoles per node, on brokers that are alive (the Fleet page). */
export async function countLiveConsolesByNode(db: Queryable): Promise<Map<string, number>> {
  const { rows } = await db.query<{ node: string; n: string }>(
    `select s.node, count(*)::text as n
       from console_sessions s
       join brokers b on b.id = s.broker_id and b.stopped_at is null
      where s.ended_at is null
      group by s.node`,
  );
  return new Map(rows.map((r) => [r.node, Number(r.n)]));
}
