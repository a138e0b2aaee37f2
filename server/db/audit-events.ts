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
}

export async function insertAuditEvent(
  db: Queryable,
  e: { actor: string; action: string; subject: string | null; details: Record<string, unknown> },
): Promise<AuditEventRow> {
  const { rows } = await db.query<AuditEventRow>(
    `insert into audit_events (actor, action, subject, details) values ($1, $2, $3, $4)
     returning seq::text, at, actor, action, subject, details`,
    [e.actor, e.action, e.subject, JSON.stringify(e.details)],
  );
  return rows[0]!;
}

export async function listAuditEvents(
  db: Queryable,
  filter: { action?: string; afterSeq?: string; limit: number },
): Promise<AuditEventRow[]> {
  const { rows } = await db.query<AuditEventRow>(
    // Order by the column, not the text alias: '12' sorts before '3'.
    `select seq::text, at, actor, action, subject, details
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
 * "access." as well as "access.approved"; `beforeSeq` pages backwards.
 */
export async function listAuditTrail(
  db: Queryable,
  f: { actionPrefix?: string; subject?: string; beforeSeq?: string; limit: number },
): Promise<AuditTrailRow[]> {
  const { rows } = await db.query<AuditTrailRow>(
    `select e.seq::text, e.at, e.actor, u.username as actor_name, e.action, e.subject, e.details
       from audit_events e
       left join users u on e.actor = 'user:' || u.id::text
      where ($1::text is null or starts_with(e.action, $1))
        and ($2::text is null or e.subject = $2 or e.details->>'grantId' = $2)
        and ($3::bigint is null or e.seq < $3)
      order by e.seq desc
      limit $4`,
    [f.actionPrefix ?? null, f.subject ?? null, f.beforeSeq ?? null, f.limit],
  );
  return rows;
}
