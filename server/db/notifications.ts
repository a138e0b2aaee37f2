// Repository: the notification outbox. Delivery claims due rows with a lease (next_attempt_at
// pushed forward) instead of holding a transaction open across a network call; several brokers
// can share the table because claims use skip locked.
import type { Queryable } from './database.js';

export interface NotificationRow {
  id: string;
  event: string;
  subject: string;
  body: Record<string, unknown>;
  attempts: number;
  delivered_at: Date | null;
  gave_up_at: Date | null;
  last_error: string | null;
}

export async function enqueueNotification(db: Queryable, n: { event: string; subject: string; body: Record<string, unknown> }): Promise<void> {
  await db.query(`insert into notifications (event, subject, body) values ($1, $2, $3)`, [n.event, n.subject, JSON.stringify(n.body)]);
}

/** Takes up to `limit` due notifications, leasing them for `leaseSeconds`. */
export async function claimDueNotifications(db: Queryable, limit: number, leaseSeconds: number): Promise<NotificationRow[]> {
  const { rows } = await db.query<NotificationRow>(
    `update notifications set next_attempt_at = now() + make_interval(secs => $2), attempts = attempts + 1
      where id in (
              select id from notifications
               where delivered_at is null and gave_up_at is null and next_attempt_at <= now()
               order by id
               limit $1
               for update skip locked)
     returning id::text, event, subject, body, attempts, delivered_at, gave_up_at, last_error`,
    [limit, leaseSeconds],
  );
  return rows;
}

export async function markNotificationDelivered(db: Queryable, id: string): Promise<void> {
  await db.query(`update notifications set delivered_at = now(), last_error = null where id = $1`, [id]);
}

/** Records a failed attempt; retries after `retryInSeconds`, or gives up when that is null. */
export async function markNotificationFailed(db: Queryable, id: string, error: string, retryInSeconds: number | null): Promise<void> {
  await db.query(
    `update notifications
        set last_error = $2,
            next_attempt_at = case when $3::float8 is null then next_attempt_at else now() + make_interval(secs => $3::float8) end,
            gave_up_at = case when $3::float8 is null then now() else null end
      where id = $1`,
    [id, error.slice(0, 500), retryInSeconds],
  );
}
