// Repository: broker instances, their heartbeats and takeover. Times are the database's
// (`now()`), never a broker's clock, so brokers with skewed clocks still agree who is alive.
import type { Queryable } from './database.js';

export async function registerBroker(db: Queryable, id: string, version: string, leaseSeconds: number): Promise<void> {
  await db.query(`insert into brokers (id, version, lease_seconds) values ($1, $2, $3)`, [id, version, leaseSeconds]);
}

/** Renews the lease; false when the broker was already declared stopped or lost. */
export async function heartbeatBroker(db: Queryable, id: string): Promise<boolean> {
  const { rowCount } = await db.query(`update brokers set heartbeat_at = now() where id = $1 and stopped_at is null`, [id]);
  return (rowCount ?? 0) > 0;
}

export async function markBrokerStopped(db: Queryable, id: string): Promise<boolean> {
  const { rowCount } = await db.query(
    `update brokers set stopped_at = now(), stop_reason = 'stopped' where id = $1 and stopped_at is null`,
    [id],
  );
  return (rowCount ?? 0) > 0;
}

/**
 * Claims every broker whose heartbeat is older than its own lease and marks it lost, in the
 * caller's transaction. `skip locked`: when two survivors look at once, each broker is claimed
 * by exactly one of them.
 */
export async function claimLostBrokers(db: Queryable, by: string): Promise<Array<{ id: string; heartbeat_at: Date }>> {
  const { rows } = await db.query<{ id: string; heartbeat_at: Date }>(
    `with lost as (
       select id from brokers
        where stopped_at is null and heartbeat_at < now() - make_interval(secs => lease_seconds) and id <> $1
        for update skip locked
     )
     update brokers b
        set stopped_at = now(), stop_reason = 'lost', taken_over_by = $1
       from lost
      where b.id = lost.id
     returning b.id, b.heartbeat_at`,
    [by],
  );
  return rows;
}

/** Of these broker ids, the ones known to this database and no longer alive. */
export async function deadBrokers(db: Queryable, ids: readonly string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const { rows } = await db.query<{ id: string }>(`select id from brokers where id = any($1) and stopped_at is not null`, [ids]);
  return new Set(rows.map((r) => r.id));
}

/**
 * A live session whose broker is gone (lost, stopped without draining, or unknown: a row left
 * by a version before instance ids), locked for the caller's transaction; one at a time so a
 * crash mid-takeover leaves the rest for the next pass.
 */
export async function lockOrphanedSession(
  db: Queryable,
): Promise<{ id: string; user_id: string; target: string; image: string; grant_id: string | null; started: boolean; broker_id: string; stop_reason: string | null } | null> {
  const { rows } = await db.query(
    `select s.id, s.user_id, s.target, s.image, s.grant_id, s.container_id is not null as started, s.broker_id, b.stop_reason
       from console_sessions s
       left join brokers b on b.id = s.broker_id
      where s.ended_at is null and (b.id is null or b.stopped_at is not null)
      order by s.started_at
      limit 1
      for update of s skip locked`,
  );
  return rows[0] ?? null;
}
