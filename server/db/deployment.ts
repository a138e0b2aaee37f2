// Repository: which deployment this database is. The identity is a hash of the stored
// deployment id, the cluster's system identifier and the database's OID: a logical restore
// (pg_restore into another database or cluster) changes the latter two, `sallyport restored`
// rotates the first (for a physical restore that keeps both). Failover keeps all three (replicas
// share the system identifier and OIDs), so a promoted replica is the same deployment.
import { createHash, randomUUID } from 'node:crypto';
import type { Queryable } from './database.js';

export async function deploymentIdentity(db: Queryable): Promise<string> {
  const { rows } = await db.query<{ id: string; oid: string }>(
    `select d.deployment_id::text as id, (select oid::text from pg_database where datname = current_database()) as oid from deployment d where d.id = 1`,
  );
  // Readable by any role on PostgreSQL 15; where a platform hides it, the other two still tell.
  const system = await db
    .query<{ s: string }>(`select system_identifier::text as s from pg_control_system()`)
    .then((r) => r.rows[0]?.s ?? '', () => '');
  const r = rows[0]!;
  return createHash('sha256').update(`${r.id}:${system}:${r.oid}`).digest('hex').slice(0, 16);
}

/** A new deployment id (after a restore); returns the previous and the new one. */
export async function rotateDeployment(tx: Queryable): Promise<{ previous: string; current: string }> {
  const next = randomUUID();
  const { rows } = await tx.query<{ previous: string }>(`select deployment_id::text as previous from deployment where id = 1 for update`);
  await tx.query(`update deployment set deployment_id = $1, restored_at = now() where id = 1`, [next]);
  return { previous: rows[0]!.previous, current: next };
}
