// Repository: the append-only audit table. Only insert and read exist here; the database
// refuses anything else (see migrations/001_foundation.sql).
import type { Queryable } from './database.js';

export interface AuditEventRow {
  seq: string;
  at: Date;
  actor: string;
  action: string;
  subject: string | null;
  details: Record<string, unknown>;
  prev_hash: string | null;
  hash: string | null;
  /** How `hash` was computed (audit/chain.ts). */
  chain_v: 1 | 2;
}

const COLUMNS = 'seq::text, at, actor, action, subject, details, prev_hash, hash, chain_v';

/**
 * Locks the chain head until the transaction ends; every append goes through here first. `now` is
 * the database's clock once the lock is held (to the millisecond, so it reads back the same): the
 * time of the next event, in chain order whatever the brokers' own clocks say.
 */
export async function lockAuditHead(tx: Queryable): Promise<{ seq: string; hash: string; now: Date }> {
  const { rows } = await tx.query<{ seq: string; hash: string; now: Date }>(
    `select seq::text, hash, date_trunc('milliseconds', clock_timestamp()) as now from audit_head where id = 1 for update`,
  );
  return rows[0]!;
}

/** The database's clock: what event and checkpoint times are read against. */
export async function databaseClock(db: Queryable): Promise<Date> {
  const { rows } = await db.query<{ now: Date }>(`select clock_timestamp() as now`);
  return rows[0]!.now;
}

/** Inserts an event whose seq and hashes the caller computed under the head lock, and moves the head. */
export async function insertChainedAuditEvent(
  tx: Queryable,
  e: { v: 1 | 2; seq: string; at: Date; actor: string; action: string; subject: string | null; details: Record<string, unknown>; prevHash: string; hash: string },
): Promise<AuditEventRow> {
  const { rows } = await tx.query<AuditEventRow>(
    `insert into audit_events (seq, at, actor, action, subject, details, prev_hash, hash, chain_v)
     overriding system value
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
     returning ${COLUMNS}`,
    [e.seq, e.at, e.actor, e.action, e.subject, JSON.stringify(e.details), e.prevHash, e.hash, e.v],
  );
  await tx.query(`update audit_head set seq = $1, hash = $2 where id = 1`, [e.seq, e.hash]);
  return rows[0]!;
}

/** Every event in order, a page at a time (for verification). */
export async function readAuditEvents(db: Queryable, afterSeq: string, limit: number): Promise<AuditEventRow[]> {
  const { rows } = await db.query<AuditEventRow>(
    `select ${COLUMNS} from audit_events where seq > $1 order by audit_events.seq limit $2`,
    [afterSeq, limit],
  );
  return rows;
}

/** The first event after seq (its number and time), or null. */
export async function firstEventAfter(db: Queryable, seq: string): Promise<{ seq: string; at: Date } | null> {
  const { rows } = await db.query<{ seq: string; at: Date }>(`select seq::text, at from audit_events where seq > $1 order by audit_events.seq limit 1`, [seq]);
  return rows[0] ?? null;
}

export async function listAuditEvents(
  db: Queryable,
  filter: { action?: string; afterSeq?: string; limit: number },
): Promise<AuditEventRow[]> {
  const { rows } = await db.query<AuditEventRow>(
    // Order by the column, not the text alias: '12' sorts before '3'.
    `select ${COLUMNS}
       from audit_events
      where ($1::text is null or action = $1)
        and ($2::bigint is null or seq > $2)
      order by audit_events.seq
      limit $3`,
    [filter.action ?? null, filter.afterSeq ?? null, filter.limit],
  );
  return rows;
}

export interface AuditTrailRow extends AuditEventRow {
  /** The actor's username when the actor is a user. */
  actor_name: string | null;
}

/**
 * Newest first, for people: actor user ids resolved to usernames. `actionPrefix` matches
 * "access." as well as "access.approved"; `beforeSeq` pages backwards. With `afterSeq`, the
 * events after it oldest first instead (below `beforeSeq` when both are given): following the log
 * as it grows (`sallyport admin audit --follow`), and an export paging forward to a fixed end.
 */
export async function listAuditTrail(
  db: Queryable,
  f: { actionPrefix?: string; subject?: string; beforeSeq?: string; afterSeq?: string; limit: number },
): Promise<AuditTrailRow[]> {
  const { rows } = await db.query<AuditTrailRow>(
    `select e.seq::text, e.at, e.actor, u.username as actor_name, e.action, e.subject, e.details, e.prev_hash, e.hash, e.chain_v
       from audit_events e
       left join users u on e.actor = 'user:' || u.id::text
      where ($1::text is null or starts_with(e.action, $1))
        and ($2::text is null or e.subject = $2 or e.details->>'grantId' = $2)
        and ($3::bigint is null or e.seq < $3)
        and ($5::bigint is null or e.seq > $5)
      order by case when $5::bigint is null then -e.seq else e.seq end
      limit $4`,
    [f.actionPrefix ?? null, f.subject ?? null, f.beforeSeq ?? null, f.limit, f.afterSeq ?? null],
  );
  return rows;
}

/** The newest `audit.restored` event after `seq` (a restore from backup recorded in the chain), or null. */
export async function restoreAfter(db: Queryable, seq: string): Promise<{ seq: string; at: Date; details: { lastCheckpoint: { n: string; seq: string } | null; throughSeq: string; reason: string } } | null> {
  const { rows } = await db.query(
    `select seq::text, at, details from audit_events where action = 'audit.restored' and seq > $1 order by audit_events.seq desc limit 1`,
    [seq],
  );
  return rows[0] ?? null;
}

/** Every `audit.restored` event, oldest first. */
export async function listRestores(db: Queryable): Promise<Array<{ seq: string; at: Date; details: { lastCheckpoint: { n: string; seq: string } | null; throughSeq: string; reason: string } }>> {
  const { rows } = await db.query(`select seq::text, at, details from audit_events where action = 'audit.restored' order by audit_events.seq`);
  return rows;
}

/** The retention event that removed a recording, if any (the last, should there be more). */
export async function recordingExpiry(db: Queryable, sessionId: string): Promise<{ seq: string; at: Date; details: { sha256?: string; retentionSeconds?: number; endedAt?: string } } | null> {
  const { rows } = await db.query(
    `select seq::text, at, details from audit_events where action = 'recording.expired' and subject = $1 order by audit_events.seq desc limit 1`,
    [sessionId],
  );
  return rows[0] ?? null;
}
