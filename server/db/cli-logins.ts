// Repository: command-line logins in flight. A row is confirmed once (by the first logged-in user
// who confirms it before it expires) and taken once (by the CLI polling with its secret), which
// starts the CLI's own session, ending when the confirming login would end.
import type { Queryable } from './database.js';

export interface CliLoginRow {
  code: string;
  /** What the command line may do once confirmed: the admin and audit API, or everything. */
  scope: 'full' | 'admin';
  clientAddress: string;
  clientName: string;
  createdAt: Date;
  expiresAt: Date;
  state: 'waiting' | 'confirmed' | 'expired';
  confirmedBy: string | null;
}

/** How long an ended row is kept, so a late visitor of the link is told it was used or expired. */
const KEEP_AFTER_EXPIRY_SECONDS = 3600;

/** Logins waiting for a confirmation: bounded, whoever asks. */
export async function countWaitingCliLogins(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ n: number }>(`select count(*)::int as n from cli_logins where confirmed_at is null and expires_at > now()`);
  return rows[0]!.n;
}

export async function saveCliLogin(
  db: Queryable,
  l: { tokenHash: Buffer; pollHash: Buffer; code: string; clientAddress: string; clientName: string; scope: 'full' | 'admin'; seconds: number },
): Promise<Date> {
  await db.query(`delete from cli_logins where expires_at < now() - make_interval(secs => $1)`, [KEEP_AFTER_EXPIRY_SECONDS]);
  const { rows } = await db.query<{ expires_at: Date }>(
    `insert into cli_logins (token_hash, poll_hash, code, client_address, client_name, scope, expires_at)
     values ($1, $2, $3, $4, $5, $7, now() + make_interval(secs => $6)) returning expires_at`,
    [l.tokenHash, l.pollHash, l.code, l.clientAddress, l.clientName, l.seconds, l.scope],
  );
  return rows[0]!.expires_at;
}

export async function getCliLogin(db: Queryable, tokenHash: Buffer): Promise<CliLoginRow | null> {
  const { rows } = await db.query(
    `select l.code, l.scope, l.client_address, l.client_name, l.created_at, l.expires_at, l.confirmed_at, u.username as confirmed_by,
            l.expires_at <= now() as expired
       from cli_logins l left join users u on u.id = l.confirmed_by
      where l.token_hash = $1`,
    [tokenHash],
  );
  const r = rows[0];
  if (!r) return null;
  return {
    code: r.code,
    scope: r.scope,
    clientAddress: r.client_address,
    clientName: r.client_name,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    state: r.confirmed_at ? 'confirmed' : r.expired ? 'expired' : 'waiting',
    confirmedBy: r.confirmed_by,
  };
}

/** Confirms a waiting, unexpired login; false when it is unknown, expired or already confirmed. */
export async function confirmCliLogin(db: Queryable, tokenHash: Buffer, userId: string, browserSession: Buffer): Promise<boolean> {
  const { rowCount } = await db.query(
    `update cli_logins set confirmed_at = now(), confirmed_by = $2, browser_session = $3
      where token_hash = $1 and confirmed_at is null and expires_at > now()`,
    [tokenHash, userId, browserSession],
  );
  return (rowCount ?? 0) > 0;
}

export type PolledCliLogin =
  | { state: 'unknown' | 'waiting' | 'expired' | 'taken' | 'login_ended' }
  | { state: 'confirmed'; username: string; userId: string; expiresAt: Date };

/**
 * What the CLI polling with this secret gets. Confirmed and not yet taken: takes it and starts the
 * CLI's session (`sessionHash`) for the confirming user, with that login's groups, roles and
 * authentication time, ending when it ends — all in the caller's transaction.
 */
export async function takeCliLogin(tx: Queryable, pollHash: Buffer, sessionHash: Buffer): Promise<PolledCliLogin> {
  const { rows } = await tx.query(
    `select confirmed_at is not null as confirmed, taken_at is not null as taken, expires_at <= now() as expired, browser_session, scope
       from cli_logins where poll_hash = $1 for update`,
    [pollHash],
  );
  const r = rows[0];
  if (!r) return { state: 'unknown' };
  if (r.taken) return { state: 'taken' };
  if (!r.confirmed) return { state: r.expired ? 'expired' : 'waiting' };
  await tx.query(`update cli_logins set taken_at = now(), session_hash = $2 where poll_hash = $1`, [pollHash, sessionHash]);
  // A child of the confirming login: it ends when that one does (touchBrowserSession, endBrowserSession).
  const started = await tx.query(
    `insert into browser_sessions (id_hash, user_id, groups, roles, auth_time, expires_at, via, parent, scope)
     select $2, b.user_id, b.groups, b.roles, b.auth_time, b.expires_at, 'cli', b.id_hash, $3
       from browser_sessions b
      where b.id_hash = $1 and b.ended_at is null and b.expires_at > now()
     returning user_id, expires_at`,
    [r.browser_session, sessionHash, r.scope],
  );
  const s = started.rows[0];
  if (!s) return { state: 'login_ended' };
  const { rows: users } = await tx.query<{ username: string }>(`select username from users where id = $1`, [s.user_id]);
  return { state: 'confirmed', username: users[0]!.username, userId: s.user_id, expiresAt: s.expires_at };
}
