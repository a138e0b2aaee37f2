// Repository: people seen at login, keyed by (issuer, subject).
import type { Queryable } from './database.js';

export interface UserRow {
  id: string;
  issuer: string;
  subject: string;
  username: string;
  display_name: string | null;
  email: string | null;
  groups: string[];
}

/** Records a login: inserts the person the first time, refreshes their profile after. */
export async function recordUserSeen(
  db: Queryable,
  u: { issuer: string; subject: string; username: string; displayName: string | null; email: string | null; groups: string[] },
): Promise<UserRow> {
  const { rows } = await db.query<UserRow>(
    `insert into users (issuer, subject, username, display_name, email, groups)
     values ($1, $2, $3, $4, $5, $6)
     on conflict on constraint users_issuer_subject_key do update
        set username     = excluded.username,
            display_name = excluded.display_name,
            email        = excluded.email,
            groups       = excluded.groups,
            last_seen_at = now()
     returning id, issuer, subject, username, display_name, email, groups`,
    [u.issuer, u.subject, u.username, u.displayName, u.email, u.groups],
  );
  return rows[0]!;
}
