// Repository: authorization requests in flight. A row is taken (deleted and returned) exactly
// once, which is what makes a replayed or second callback fail.
import type { Queryable } from './database.js';

export interface PendingLogin {
  state: string;
  nonce: string;
  codeVerifier: string;
  returnTo: string;
  /** Set for a step-up login: the IdP must have authenticated the user this recently. */
  maxAge: number | null;
}

export async function savePendingLogin(db: Queryable, bindingHash: Buffer, p: PendingLogin, ttlSeconds: number): Promise<void> {
  await db.query(`delete from oidc_logins where expires_at < now()`);
  await db.query(
    `insert into oidc_logins (binding_hash, state, nonce, code_verifier, return_to, max_age, expires_at)
     values ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7))`,
    [bindingHash, p.state, p.nonce, p.codeVerifier, p.returnTo, p.maxAge, ttlSeconds],
  );
}

/** Logins in flight and not expired. */
export async function countPendingLogins(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ n: number }>(`select count(*)::int as n from oidc_logins where expires_at > now()`);
  return rows[0]!.n;
}

export async function takePendingLogin(db: Queryable, bindingHash: Buffer): Promise<PendingLogin | null> {
  const { rows } = await db.query(
    `delete from oidc_logins where binding_hash = $1 returning state, nonce, code_verifier, return_to, max_age, expires_at > now() as live`,
    [bindingHash],
  );
  const r = rows[0];
  if (!r || !r.live) return null;
  return { state: r.state, nonce: r.nonce, codeVerifier: r.code_verifier, returnTo: r.return_to, maxAge: r.max_age };
}
