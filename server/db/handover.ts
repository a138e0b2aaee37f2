// Repository: a console between brokers (migration 033). The broker that drains leaves each
// browser console with where its recording stands; another takes it with one conditional update
// (at most one carrier at any moment); the drainer takes back what nobody took in time.
import type { Queryable } from './database.js';

/** Where a left console's recording stands: its next chunk, the chain so far, its size, its last event time. */
export interface HandoverState {
  seq: number;
  chainHash: string;
  bytes: number;
  tEnd: number;
  /** Epoch milliseconds (the database's clock) when the broker let go of it. */
  leftAt: number;
}

/** What a broker needs to carry on with a console another left. */
export interface TakenConsole {
  id: string;
  user_id: string;
  browser_session: Buffer | null;
  reattach_key_hash: Buffer | null;
  target: string;
  runtime: string;
  node: string;
  container_id: string;
  grant_id: string | null;
  started_at: Date;
  header: { width: number; height: number; timestamp?: number };
  handover: HandoverState;
}

export async function setReattachKeyHash(db: Queryable, id: string, hash: Buffer): Promise<void> {
  await db.query(`update console_sessions set reattach_key_hash = $2 where id = $1`, [id, hash]);
}

/** The console as a broker that might take it sees it: whose, carried by whom, left or not. */
export async function consoleCarrier(
  db: Queryable,
  id: string,
): Promise<{ user_id: string; broker_id: string; left: boolean; live: boolean; browser_session: Buffer | null; reattach_key_hash: Buffer | null; target: string; username: string } | null> {
  const { rows } = await db.query(
    `select s.user_id, s.broker_id, s.handover is not null as left, s.ended_at is null as live, s.browser_session, s.reattach_key_hash, s.target, u.username
       from console_sessions s join users u on u.id = s.user_id where s.id = $1`,
    [id],
  );
  return rows[0] ?? null;
}

/** Lets go of a console this broker carries; false if it is not (or no longer) its own. */
export async function leaveConsole(db: Queryable, id: string, brokerId: string, state: Omit<HandoverState, 'leftAt'>): Promise<boolean> {
  const { rowCount } = await db.query(
    `update console_sessions
        set handover = jsonb_build_object('seq', $3::int, 'chainHash', $4::text, 'bytes', $5::bigint, 'tEnd', $6::float8,
                                          'leftAt', (extract(epoch from clock_timestamp()) * 1000)::bigint)
      where id = $1 and broker_id = $2 and ended_at is null and handover is null`,
    [id, brokerId, state.seq, state.chainHash, state.bytes, state.tEnd],
  );
  return (rowCount ?? 0) > 0;
}

/**
 * Takes a console another broker left, for `brokerId`: the conditional update is the one place
 * a console changes carrier, so two brokers never both carry it. Null when it is not left (any
 * more), or has ended.
 */
export async function takeConsole(db: Queryable, id: string, brokerId: string): Promise<TakenConsole | null> {
  const { rows } = await db.query<TakenConsole>(
    `with taken as (
       update console_sessions set broker_id = $2, handover = null
        where id = $1 and ended_at is null and handover is not null and container_id is not null
        returning id, user_id, browser_session, reattach_key_hash, target, runtime, node, container_id, grant_id, started_at,
                  (select handover from console_sessions where id = $1) as handover
     )
     select t.*, r.header from taken t join recordings r on r.session_id = t.id`,
    [id, brokerId],
  );
  const row = rows[0];
  if (!row) return null;
  const h = row.handover as unknown as Record<string, unknown>;
  return { ...row, handover: { seq: Number(h.seq), chainHash: String(h.chainHash), bytes: Number(h.bytes), tEnd: Number(h.tEnd), leftAt: Number(h.leftAt) } };
}

/** The drainer takes back a console nobody took in time (to end it itself). */
export async function reclaimConsole(db: Queryable, id: string, brokerId: string): Promise<boolean> {
  const { rowCount } = await db.query(`update console_sessions set handover = null where id = $1 and broker_id = $2 and ended_at is null and handover is not null`, [id, brokerId]);
  return (rowCount ?? 0) > 0;
}

/**
 * Of these sessions, the live ones carried by a broker other than the one whose label the
 * container bears (handed over): the reaper leaves their containers to their carrier.
 */
export async function carriedElsewhere(db: Queryable, sessionIds: string[]): Promise<Map<string, string>> {
  if (sessionIds.length === 0) return new Map();
  const { rows } = await db.query<{ id: string; broker_id: string }>(
    `select s.id, s.broker_id from console_sessions s join brokers b on b.id = s.broker_id
      where s.id = any($1::uuid[]) and s.ended_at is null and b.stopped_at is null`,
    [sessionIds.filter((id) => /^[0-9a-f-]{36}$/.test(id))],
  );
  return new Map(rows.map((r) => [r.id, r.broker_id]));
}

/** Other brokers alive now (beat within their lease, not stopped): who could carry a console on. */
export async function otherLiveBrokers(db: Queryable, brokerId: string): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>(
    `select id from brokers where id <> $1 and stopped_at is null and heartbeat_at > now() - make_interval(secs => lease_seconds)`,
    [brokerId],
  );
  return rows.map((r) => r.id);
}
