// What an attacker with table-owner rights on the broker's database can do to the audit log:
// switch the append-only triggers off, change rows, and recompute the chain exactly as a broker
// would (the rule is public), moving the head.
import { hashEvent } from '../../server/audit/index.js';
import type { Database } from '../../server/db/index.js';

export async function tamper(db: Database, ...statements: string[]): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.query(`alter table audit_events disable trigger user`);
    for (const s of statements) await tx.query(s);
    await tx.query(`alter table audit_events enable trigger user`);
  });
}

/** Runs `change` on the rows, then recomputes every hash from event k on and moves the head. */
export async function recomputeFrom(db: Database, k: number, change: string[], ...more: string[]): Promise<void> {
  await tamper(db, ...change);
  const rows = (await db.query(`select seq::text, at, actor, action, subject, details, prev_hash, hash, chain_v from audit_events where seq >= ${k - 1} order by audit_events.seq`)).rows;
  let prev = k === 1 ? '0'.repeat(64) : (rows[0].hash as string);
  const updates: string[] = [];
  for (const r of k === 1 ? rows : rows.slice(1)) {
    const h = hashEvent({ v: r.chain_v, seq: r.seq, at: r.at, actor: r.actor, action: r.action, subject: r.subject, details: r.details, prevHash: prev });
    updates.push(`update audit_events set prev_hash = '${prev}', hash = '${h}' where seq = ${r.seq}`);
    prev = h;
  }
  await tamper(db, ...updates, `update audit_head set hash = '${prev}'`, ...more);
}
