// Repository: a console between brokers (migration 033). The broker that drains leaves each
// browser console with where its recording stands; another takes it with one conditional update
// (at most one carrier at any moment); the drainer takes back what nobody took in time.
import type { Queryable } from './database.js';
import { CONTROL_CHANNEL } from './live-control.js';

/**
 * A console between brokers, on its row (migration 033): offered by the broker that drains it;
 * `attaching` once a taker claimed it; `paused` once the taker is attached too and froze it (the
 * sync point: everything before it reached the offerer, nothing after it can be printed until
 * the taker thaws it); `left` once the offerer stored what it received and let go, naming where
 * the recording stands. The taker then clears it.
 */
export interface Handover {
  phase: 'requested' | 'declined' | 'offered' | 'attaching' | 'paused' | 'left';
  takeover?: boolean;
  /** Epoch milliseconds when it was offered (an offer nobody claims is withdrawn). */
  at?: number;
  taker?: string;
  seq?: number;
  chainHash?: string;
  bytes?: number;
  tEnd?: number;
  /** Epoch milliseconds (the database's clock) when the offerer let go. */
  leftAt?: number;
}

/** What a broker needs to carry on with a console another broker offers. */
export interface OfferedConsole {
  id: string;
  offerer: string;
  target: string;
  runtime: string;
  node: string;
  container_id: string;
  grant_id: string | null;
  started_at: Date;
  reattach_key_hash: Buffer | null;
  header: { width: number; height: number };
}

export async function setReattachKeyHash(db: Queryable, id: string, hash: Buffer): Promise<void> {
  await db.query(`update console_sessions set reattach_key_hash = $2 where id = $1`, [id, hash]);
}

/** The console as a broker that might take it sees it: whose, carried by whom, offered or not. */
export async function consoleCarrier(
  db: Queryable,
  id: string,
): Promise<{ user_id: string; broker_id: string; offered: boolean; live: boolean; browser_session: Buffer | null; reattach_key_hash: Buffer | null; target: string; username: string } | null> {
  const { rows } = await db.query(
    `select s.user_id, s.broker_id, coalesce(s.handover->>'phase' = 'offered', false) as offered, s.ended_at is null as live, s.browser_session, s.reattach_key_hash, s.target, u.username
       from console_sessions s join users u on u.id = s.user_id where s.id = $1`,
    [id],
  );
  return rows[0] ?? null;
}

/**
 * Another broker's page came back for this console (a load balancer sent it there): asks its
 * carrier, woken by NOTIFY, to offer it. `takeover`: the page takes it even from a client still
 * attached there (its own dropped socket, not yet noticed). False if a handover already stands.
 */
export async function requestHandover(db: Queryable, id: string, takeover: boolean): Promise<boolean> {
  const { rows } = await db.query<{ broker_id: string }>(
    `update console_sessions set handover = jsonb_build_object('phase', 'requested', 'takeover', $2::boolean)
      where id = $1 and ended_at is null and handover is null
      returning broker_id`,
    [id, takeover],
  );
  if (!rows[0]) return false;
  await db.query(`select pg_notify($1, $2)`, [CONTROL_CHANNEL, rows[0].broker_id]);
  return true;
}

/** The carrier's answer to a request: offered, or declined (another window of the login holds it). */
export async function answerRequest(db: Queryable, id: string, brokerId: string, offer: boolean): Promise<boolean> {
  const { rowCount } = await db.query(
    `update console_sessions set handover = jsonb_build_object('phase', $3::text, 'at', (extract(epoch from clock_timestamp()) * 1000)::bigint)
      where id = $1 and broker_id = $2 and ended_at is null and handover->>'phase' = 'requested'`,
    [id, brokerId, offer ? 'offered' : 'declined'],
  );
  return (rowCount ?? 0) > 0;
}

/** Clears a declined request (the asker read the answer) or a stale one. */
export async function clearRequest(db: Queryable, id: string): Promise<void> {
  await db.query(`update console_sessions set handover = null where id = $1 and handover->>'phase' in ('requested', 'declined')`, [id]);
}

/** Offers a console this broker carries to whichever broker its page reconnects to (a drain). */
export async function offerConsole(db: Queryable, id: string, brokerId: string): Promise<boolean> {
  const { rowCount } = await db.query(
    `update console_sessions set handover = jsonb_build_object('phase', 'offered', 'at', (extract(epoch from clock_timestamp()) * 1000)::bigint)
      where id = $1 and broker_id = $2 and ended_at is null and handover is null`,
    [id, brokerId],
  );
  return (rowCount ?? 0) > 0;
}

/** Claims an offered console for `taker`: one claim wins. */
export async function claimOffer(db: Queryable, id: string, taker: string): Promise<OfferedConsole | null> {
  const { rows } = await db.query<OfferedConsole>(
    `with claimed as (
       update console_sessions set handover = jsonb_build_object('phase', 'attaching', 'taker', $2::text)
        where id = $1 and ended_at is null and handover->>'phase' = 'offered' and container_id is not null and broker_id <> $2
        returning id, broker_id as offerer, target, runtime, node, container_id, grant_id, started_at, reattach_key_hash
     )
     select c.*, r.header from claimed c join recordings r on r.session_id = c.id`,
    [id, taker],
  );
  return rows[0] ?? null;
}

/** The taker's step: attached and frozen (false if the claim is no longer its own). */
export async function markPaused(db: Queryable, id: string, taker: string): Promise<boolean> {
  const { rows } = await db.query<{ broker_id: string }>(
    `update console_sessions set handover = handover || '{"phase":"paused"}' where id = $1 and ended_at is null and handover->>'phase' = 'attaching' and handover->>'taker' = $2
     returning broker_id`,
    [id, taker],
  );
  // The offerer's turn: woken now rather than on its next pass.
  if (rows[0]) await db.query(`select pg_notify($1, $2)`, [CONTROL_CHANNEL, rows[0].broker_id]);
  return rows.length > 0;
}

/** The offerer's consoles a taker has frozen: its turn to store what it has and let go. */
export async function pausedOffers(db: Queryable, brokerId: string): Promise<Array<{ id: string; taker: string }>> {
  const { rows } = await db.query<{ id: string; taker: string }>(
    `select id, handover->>'taker' as taker from console_sessions where broker_id = $1 and ended_at is null and handover->>'phase' = 'paused'`,
    [brokerId],
  );
  return rows;
}

/** The offerer lets go: the taker carries it from here, the recording stands at `at`. */
export async function letGo(db: Queryable, id: string, brokerId: string, taker: string, at: { seq: number; chainHash: string; bytes: number; tEnd: number }): Promise<boolean> {
  const { rowCount } = await db.query(
    `update console_sessions
        set broker_id = $3,
            handover = jsonb_build_object('phase', 'left', 'taker', $3::text, 'seq', $4::int, 'chainHash', $5::text, 'bytes', $6::bigint, 'tEnd', $7::float8,
                                          'leftAt', (extract(epoch from clock_timestamp()) * 1000)::bigint)
      where id = $1 and broker_id = $2 and ended_at is null and handover->>'phase' = 'paused' and handover->>'taker' = $3`,
    [id, brokerId, taker, at.seq, at.chainHash, at.bytes, at.tEnd],
  );
  return (rowCount ?? 0) > 0;
}

/** Where the handover stands, as the taker polls it. */
export async function handoverOf(db: Queryable, id: string): Promise<{ handover: Handover | null; broker_id: string; live: boolean } | null> {
  const { rows } = await db.query<{ handover: Handover | null; broker_id: string; live: boolean }>(
    `select handover, broker_id, ended_at is null as live from console_sessions where id = $1`,
    [id],
  );
  return rows[0] ?? null;
}

/** The taker carries it now: nothing is between brokers any more. */
export async function carried(db: Queryable, id: string, brokerId: string): Promise<void> {
  await db.query(`update console_sessions set handover = null where id = $1 and broker_id = $2`, [id, brokerId]);
}

/** A taker that could not finish gives the offer back (only while the offerer still holds it). */
export async function unclaim(db: Queryable, id: string, taker: string): Promise<boolean> {
  const { rowCount } = await db.query(
    `update console_sessions set handover = '{"phase":"offered"}' where id = $1 and ended_at is null and handover->>'phase' in ('attaching', 'paused') and handover->>'taker' = $2`,
    [id, taker],
  );
  return (rowCount ?? 0) > 0;
}

/** The offerer withdraws what nobody took (its drain is over: it ends them itself). */
export async function withdrawOffers(db: Queryable, brokerId: string, id?: string): Promise<void> {
  await db.query(
    `update console_sessions set handover = null where broker_id = $1 and ($2::uuid is null or id = $2) and ended_at is null and handover->>'phase' in ('requested', 'declined', 'offered')`,
    [brokerId, id ?? null],
  );
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
