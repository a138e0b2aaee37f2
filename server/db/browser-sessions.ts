// Repository: server-side browser sessions. Rows are keyed by a keyed hash of the cookie value,
// so a copy of the table does not let anyone ride a session.
import type { Queryable } from './database.js';
import type { UserRow } from './users.js';

export interface ActiveSessionRow {
  user: UserRow;
  groups: string[];
  roles: string[];
  authTime: Date;
  createdAt: Date;
  expiresAt: Date;
}

export async function startBrowserSession(
  db: Queryable,
  s: { idHash: Buffer; userId: string; groups: string[]; roles: string[]; authTime: Date; absoluteSeconds: number },
): Promise<void> {
  await db.query(
    `insert into browser_sessions (id_hash, user_id, groups, roles, auth_time, expires_at)
     values ($1, $2, $3, $4, $5, now() + make_interval(secs => $6))`,
    [s.idHash, s.userId, s.groups, s.roles, s.authTime, s.absoluteSeconds],
  );
}

/**
 * Finds a live session and marks it used, in one statement: a session idle longer than
 * idleSeconds or past its absolute expiry is ended here and not returned.
 */
export async function touchBrowserSession(db: Queryable, idHash: Buffer, idleSeconds: number): Promise<ActiveSessionRow | null> {
  const { rows } = await db.query(
    `with s as (
       select id_hash,
              (expires_at <= now() or last_seen_at <= now() - make_interval(secs => $2)) as stale
         from browser_sessions
        where id_hash = $1 and ended_at is null
        for update
     ), ended as (
       update browser_sessions b
          set ended_at = now(), end_reason = 'expired'
         from s
        where b.id_hash = s.id_hash and s.stale
     ), touched as (
       update browser_sessions b
          set last_seen_at = now()
         from s
        where b.id_hash = s.id_hash and not s.stale
    returning b.user_id, b.groups, b.roles, b.auth_time, b.created_at, b.expires_at
     )
     select t.groups, t.roles, t.auth_time, t.created_at, t.expires_at,
            u.id, u.issuer, u.subject, u.username, u.display_name, u.email, u.groups as user_groups
       from touched t
       join users u on u.id = t.user_id`,
    [idHash, idleSeconds],
  );
  const r = rows[0];
  if (!r) return null;
  return {
    user: {
      id: r.id,
      issuer: r.issuer,
      subject: r.subject,
      username: r.username,
      display_name: r.display_name,
      email: r.email,
      groups: r.user_groups,
    },
    groups: r.groups,
    roles: r.roles,
    authTime: r.auth_time,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
  };
}

/** A new login of the same browser takes over the live consoles opened with the old one. */
export async function moveConsolesToLogin(db: Queryable, from: Buffer, to: Buffer): Promise<void> {
  await db.query(`update console_sessions set browser_session = $2 where browser_session = $1 and ended_at is null`, [from, to]);
}

/**
 * Typing in a console is using its login: keeps the logins of this broker's live consoles from
 * idling out. Only rows not touched for a while are written, so a pass a second costs no writes.
 */
export async function touchLoginsOfConsoles(db: Queryable, brokerId: string, everySeconds: number): Promise<void> {
  await db.query(
    `update browser_sessions b set last_seen_at = now()
       from console_sessions s
      where s.broker_id = $1 and s.ended_at is null and b.id_hash = s.browser_session
        and b.ended_at is null and b.expires_at > now() and b.last_seen_at < now() - make_interval(secs => $2)`,
    [brokerId, everySeconds],
  );
}

/** Ends a session (logout); returns whether a live one was ended. */
export async function endBrowserSession(db: Queryable, idHash: Buffer, reason: string): Promise<boolean> {
  const { rowCount } = await db.query(
    `update browser_sessions set ended_at = now(), end_reason = $2 where id_hash = $1 and ended_at is null`,
    [idHash, reason],
  );
  return (rowCount ?? 0) > 0;
}
