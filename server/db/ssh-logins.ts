// Repository: SSH front-door logins in flight. A row is confirmed once (by the first logged-in
// user who confirms it before it expires) and taken once (by the connection waiting for it).
import type { Queryable } from './database.js';
import type { UserRow } from './users.js';

export interface SshLoginRow {
  code: string;
  target: string;
  clientAddress: string;
  clientVersion: string;
  createdAt: Date;
  expiresAt: Date;
  state: 'waiting' | 'confirmed' | 'expired';
  confirmedBy: string | null;
}

/** How long an ended row is kept, so a late visitor of the link is told it was used or expired. */
const KEEP_AFTER_EXPIRY_SECONDS = 3600;

export async function saveSshLogin(
  db: Queryable,
  l: { tokenHash: Buffer; code: string; target: string; clientAddress: string; clientVersion: string; brokerId: string; seconds: number },
): Promise<Date> {
  await db.query(`delete from ssh_logins where expires_at < now() - make_interval(secs => $1)`, [KEEP_AFTER_EXPIRY_SECONDS]);
  const { rows } = await db.query<{ expires_at: Date }>(
    `insert into ssh_logins (token_hash, code, target, client_address, client_version, broker_id, expires_at)
     values ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7)) returning expires_at`,
    [l.tokenHash, l.code, l.target, l.clientAddress, l.clientVersion, l.brokerId, l.seconds],
  );
  return rows[0]!.expires_at;
}

export async function getSshLogin(db: Queryable, tokenHash: Buffer): Promise<SshLoginRow | null> {
  const { rows } = await db.query(
    `select l.code, l.target, l.client_address, l.client_version, l.created_at, l.expires_at, l.confirmed_at, u.username as confirmed_by,
            l.expires_at <= now() as expired
       from ssh_logins l left join users u on u.id = l.confirmed_by
      where l.token_hash = $1`,
    [tokenHash],
  );
  const r = rows[0];
  if (!r) return null;
  return {
    code: r.code,
    target: r.target,
    clientAddress: r.client_address,
    clientVersion: r.client_version,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    state: r.confirmed_at ? 'confirmed' : r.expired ? 'expired' : 'waiting',
    confirmedBy: r.confirmed_by,
  };
}

/** Confirms a waiting, unexpired login; false when it is unknown, expired or already confirmed. */
export async function confirmSshLogin(db: Queryable, tokenHash: Buffer, userId: string, browserSession: Buffer): Promise<boolean> {
  const { rowCount } = await db.query(
    `update ssh_logins set confirmed_at = now(), confirmed_by = $2, browser_session = $3
      where token_hash = $1 and confirmed_at is null and expires_at > now()`,
    [tokenHash, userId, browserSession],
  );
  return (rowCount ?? 0) > 0;
}

export interface TakenSshLogin {
  tokenHash: Buffer;
  /** The confirming browser login, or null when it ended before the connection took it. */
  login: { user: UserRow; groups: string[]; roles: string[]; authTime: Date; browserSession: Buffer } | null;
}

/**
 * Takes the confirmed logins among `tokenHashes`, each once. The confirming browser login must
 * still be live: a logout between confirming and taking leaves the connection logged out.
 */
export async function takeSshLogins(db: Queryable, tokenHashes: readonly Buffer[]): Promise<TakenSshLogin[]> {
  if (tokenHashes.length === 0) return [];
  const { rows } = await db.query(
    `with taken as (
       update ssh_logins set taken_at = now()
        where token_hash = any($1) and confirmed_at is not null and taken_at is null
    returning token_hash, browser_session
     )
     select t.token_hash, t.browser_session, b.groups, b.roles, b.auth_time,
            u.id, u.issuer, u.subject, u.username, u.display_name, u.email, u.groups as user_groups
       from taken t
       left join browser_sessions b on b.id_hash = t.browser_session and b.ended_at is null and b.expires_at > now()
       left join users u on u.id = b.user_id`,
    [tokenHashes],
  );
  return rows.map((r) => ({
    tokenHash: r.token_hash,
    login:
      r.id === null
        ? null
        : {
            browserSession: r.browser_session,
            groups: r.groups,
            roles: r.roles,
            authTime: r.auth_time,
            user: { id: r.id, issuer: r.issuer, subject: r.subject, username: r.username, display_name: r.display_name, email: r.email, groups: r.user_groups },
          },
  }));
}
