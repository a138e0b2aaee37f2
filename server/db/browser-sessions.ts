// Repository: server-side browser sessions. Rows are keyed by a keyed hash of the cookie value,
// so a copy of the table does not let anyone ride a session.
import type { Queryable } from './database.js';
import type { UserRow } from './users.js';

export interface ActiveSessionRow {
  user: UserRow;
  via: 'browser' | 'cli';
  scope: 'full' | 'admin';
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
       -- A command-line login lives no longer than the browser login that confirmed it.
       select b.id_hash,
              (b.expires_at <= now() or b.last_seen_at <= now() - make_interval(secs => $2)
               or (b.parent is not null and not exists (
                     select 1 from browser_sessions p where p.id_hash = b.parent and p.ended_at is null and p.expires_at > now()))) as stale
         from browser_sessions b
        where b.id_hash = $1 and b.ended_at is null
        for update of b
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
    returning b.user_id, b.groups, b.roles, b.auth_time, b.created_at, b.expires_at, b.via, b.scope
     )
     select t.groups, t.roles, t.auth_time, t.created_at, t.expires_at, t.via, t.scope,
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
    via: r.via,
    scope: r.scope,
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

/** Ends a session (logout) and the command-line logins it confirmed; whether a live one was ended. */
export async function endBrowserSession(db: Queryable, idHash: Buffer, reason: string): Promise<boolean> {
  const { rows } = await db.query<{ own: boolean }>(
    `update browser_sessions set ended_at = now(), end_reason = $2
      where (id_hash = $1 or parent = $1) and ended_at is null
      returning id_hash = $1 as own`,
    [idHash, reason],
  );
  return rows.some((r) => r.own);
}

export interface CliSessionRow {
  id: string;
  username: string;
  clientName: string;
  clientAddress: string;
  scope: 'full' | 'admin';
  createdAt: Date;
  expiresAt: Date;
}

/** Live command-line logins: one user's, or everyone's (`userId` null). */
export async function listCliSessions(db: Queryable, userId: string | null): Promise<CliSessionRow[]> {
  const { rows } = await db.query(
    `select l.id, u.username, l.client_name, l.client_address, b.scope, b.created_at, b.expires_at
       from cli_logins l
       join browser_sessions b on b.id_hash = l.session_hash and b.ended_at is null and b.expires_at > now()
       join users u on u.id = b.user_id
      where ($1::uuid is null or b.user_id = $1)
      order by b.created_at desc
      limit 500`,
    [userId],
  );
  return rows.map((r) => ({ id: r.id, username: r.username, clientName: r.client_name, clientAddress: r.client_address, scope: r.scope, createdAt: r.created_at, expiresAt: r.expires_at }));
}

/**
 * Ends one command-line login by its id (`userId`: only if it is that user's; null: anyone's),
 * returning whose it was, or null when there is no such live login.
 */
export async function revokeCliSession(db: Queryable, id: string, userId: string | null): Promise<{ username: string; clientName: string } | null> {
  const { rows } = await db.query(
    `update browser_sessions b set ended_at = now(), end_reason = 'revoked'
       from cli_logins l, users u
      where l.id = $1 and b.id_hash = l.session_hash and u.id = b.user_id and b.ended_at is null
        and ($2::uuid is null or b.user_id = $2)
     returning u.username, l.client_name`,
    [id, userId],
  );
  return rows[0] ? { username: rows[0].username, clientName: rows[0].client_name } : null;
}
