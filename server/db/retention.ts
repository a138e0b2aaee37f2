// Repository: retention (recordings past their target's retention) and legal holds.
import type { Queryable } from './database.js';

/** How long each target's recordings are kept: seconds, or null for ever; `otherwise` for targets not listed. */
export interface RetentionPolicy {
  targets: ReadonlyArray<{ target: string; seconds: number | null }>;
  otherwise: number | null;
}

export interface ExpiringRecording {
  session_id: string;
  target: string;
  sha256: string;
  size_bytes: string;
  ended_at: Date;
  retention_seconds: number;
}

/**
 * Claims the oldest sealed recording past its retention that no legal hold exempts (locked,
 * skipping rows another broker holds), removes its bytes, screen text, commands, keyframes and
 * queued index work, and marks it expired. Its row stays with the hash it was sealed with. The
 * caller appends the audit event in the same transaction. Null when nothing is due.
 */
export async function expireOneRecording(tx: Queryable, policy: RetentionPolicy): Promise<ExpiringRecording | null> {
  const { rows } = await tx.query<ExpiringRecording>(
    `with policy (target, seconds) as (select * from unnest($1::text[], $2::double precision[]))
     select r.session_id, s.target, r.sha256, r.size_bytes::text, s.ended_at,
            case when p.target is null then $3::double precision else p.seconds end as retention_seconds
       from console_sessions s
       join recordings r on r.session_id = s.id
       left join policy p on p.target = s.target
      where s.ended_at is not null
        and r.sealed_at is not null
        and r.expired_at is null
        and s.ended_at < now() - make_interval(secs => case when p.target is null then $3::double precision else p.seconds end)
        and not exists (select 1 from legal_holds h where h.session_id = s.id)
      order by s.ended_at
      limit 1
      for update of r skip locked`,
    [policy.targets.map((t) => t.target), policy.targets.map((t) => t.seconds), policy.otherwise],
  );
  const due = rows[0];
  if (!due) return null;
  for (const table of ['recording_index_queue', 'recording_text', 'recording_commands', 'recording_keyframes', 'recording_chunks']) {
    await tx.query(`delete from ${table} where session_id = $1`, [due.session_id]);
  }
  await tx.query(`update recordings set expired_at = now() where session_id = $1`, [due.session_id]);
  return due;
}

export interface LegalHoldRow {
  session_id: string;
  reason: string;
  held_by: string;
  held_by_username: string;
  held_at: Date;
}

/**
 * Places a hold, with the recording's row locked so a retention pass cannot remove it meanwhile.
 * 'expired' when retention removed it already; 'held' when a hold is in place; 'none' without a recording.
 */
export async function placeLegalHold(tx: Queryable, h: { sessionId: string; reason: string; heldBy: string }): Promise<'placed' | 'held' | 'expired' | 'none'> {
  const rec = await tx.query<{ expired: boolean }>(`select expired_at is not null as expired from recordings where session_id = $1 for update`, [h.sessionId]);
  if (!rec.rows[0]) return 'none';
  if (rec.rows[0].expired) return 'expired';
  const { rowCount } = await tx.query(
    `insert into legal_holds (session_id, reason, held_by) values ($1, $2, $3) on conflict (session_id) do nothing`,
    [h.sessionId, h.reason, h.heldBy],
  );
  return rowCount ? 'placed' : 'held';
}

/** Releases a hold; the released row (what the audit event names), or null when there was none. */
export async function releaseLegalHold(tx: Queryable, sessionId: string): Promise<{ reason: string; held_at: Date } | null> {
  const { rows } = await tx.query<{ reason: string; held_at: Date }>(`delete from legal_holds where session_id = $1 returning reason, held_at`, [sessionId]);
  return rows[0] ?? null;
}

export async function getLegalHold(db: Queryable, sessionId: string): Promise<LegalHoldRow | null> {
  const { rows } = await db.query<LegalHoldRow>(
    `select h.session_id, h.reason, h.held_by, u.username as held_by_username, h.held_at
       from legal_holds h join users u on u.id = h.held_by
      where h.session_id = $1`,
    [sessionId],
  );
  return rows[0] ?? null;
}

/** How many rows of short-lived state were removed, per table. */
export interface Pruned {
  browserSessions: number;
  notifications: number;
  logins: number;
}

/**
 * Short-lived state past any use: browser and command-line logins ended or expired `keepDays`
 * ago (a command-line login first, as it points at the browser login that confirmed it),
 * delivered or abandoned notifications, and login links long expired. Their events are in the
 * audit log, which is kept.
 */
export async function pruneShortLived(db: Queryable, keepDays: number): Promise<Pruned> {
  const old = `coalesce(ended_at, expires_at) < now() - make_interval(days => $1)`;
  const children = await db.query(`delete from browser_sessions where parent is not null and ${old}`, [keepDays]);
  const parents = await db.query(
    `delete from browser_sessions b where parent is null and ${old}
        and not exists (select 1 from browser_sessions c where c.parent = b.id_hash)`,
    [keepDays],
  );
  const notifications = await db.query(
    `delete from notifications where coalesce(delivered_at, gave_up_at) < now() - make_interval(days => $1)`,
    [keepDays],
  );
  const oidc = await db.query(`delete from oidc_logins where expires_at < now() - make_interval(days => 1)`);
  const ssh = await db.query(`delete from ssh_logins where expires_at < now() - make_interval(days => 1)`);
  const cli = await db.query(`delete from cli_logins where expires_at < now() - make_interval(days => 1)`);
  return {
    browserSessions: (children.rowCount ?? 0) + (parents.rowCount ?? 0),
    notifications: notifications.rowCount ?? 0,
    logins: (oidc.rowCount ?? 0) + (ssh.rowCount ?? 0) + (cli.rowCount ?? 0),
  };
}
