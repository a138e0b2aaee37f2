// Repository: SSH keys that log a user in at the SSH door while the browser login that confirmed
// them lives (migration 031).
import type { Queryable } from './database.js';

export interface SshKeyLoginRow {
  key_sha256: string;
  public_key: string;
  user_id: string;
  username: string;
  created_at: Date;
  expires_at: Date;
  last_used_at: Date | null;
}

/**
 * Remembers a key for the browser login that confirmed its connection: until that login's own
 * end, at most `hours`. A key remembered before (another login, or revoked) starts afresh.
 */
export async function rememberSshKey(tx: Queryable, k: { keySha256: string; publicKey: string; userId: string; browserSession: Buffer; hours: number }): Promise<SshKeyLoginRow | null> {
  const { rows } = await tx.query<SshKeyLoginRow>(
    `insert into ssh_key_logins (key_sha256, public_key, user_id, browser_session, expires_at)
     select $1, $2, $3, b.id_hash, least(b.expires_at, now() + make_interval(hours => $5))
       from browser_sessions b where b.id_hash = $4 and b.ended_at is null and b.expires_at > now()
     on conflict (key_sha256) do update
       set public_key = excluded.public_key, user_id = excluded.user_id, browser_session = excluded.browser_session,
           created_at = now(), expires_at = excluded.expires_at, last_used_at = null, revoked_at = null, revoked_by = null
     returning key_sha256, public_key, user_id, (select username from users where id = $3) as username, created_at, expires_at, last_used_at`,
    [k.keySha256, k.publicKey, k.userId, k.browserSession, k.hours],
  );
  return rows[0] ?? null;
}

/** The browser login a key logs in as, when the key is remembered, in force and not revoked. */
export async function findSshKeyLogin(db: Queryable, keySha256: string): Promise<{ browser_session: Buffer; user_id: string } | null> {
  const { rows } = await db.query<{ browser_session: Buffer; user_id: string }>(
    `update ssh_key_logins set last_used_at = now()
      where key_sha256 = $1 and revoked_at is null and expires_at > now()
     returning browser_session, user_id`,
    [keySha256],
  );
  return rows[0] ?? null;
}

/** A user's keys in force, newest first. */
export async function listSshKeyLogins(db: Queryable, userId: string): Promise<SshKeyLoginRow[]> {
  const { rows } = await db.query<SshKeyLoginRow>(
    `select k.key_sha256, k.public_key, k.user_id, u.username, k.created_at, k.expires_at, k.last_used_at
       from ssh_key_logins k join users u on u.id = k.user_id
       join browser_sessions b on b.id_hash = k.browser_session and b.ended_at is null and b.expires_at > now()
      where k.user_id = $1 and k.revoked_at is null and k.expires_at > now()
      order by k.created_at desc`,
    [userId],
  );
  return rows;
}

/** Revokes a key (the owner's, or any for an admin); the revoked row, or null when none was in force. */
export async function revokeSshKeyLogin(tx: Queryable, keySha256: string, by: string, ownerOnly: string | null): Promise<SshKeyLoginRow | null> {
  const { rows } = await tx.query<SshKeyLoginRow>(
    `update ssh_key_logins k set revoked_at = now(), revoked_by = $2
       from users u
      where k.key_sha256 = $1 and u.id = k.user_id and k.revoked_at is null and ($3::uuid is null or k.user_id = $3)
     returning k.key_sha256, k.public_key, k.user_id, u.username, k.created_at, k.expires_at, k.last_used_at`,
    [keySha256, by, ownerOnly],
  );
  return rows[0] ?? null;
}
