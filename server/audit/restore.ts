// Recording a restore from backup in the chain itself. A restored database ends where its backup
// ended: the events and checkpoints signed after it are gone, and every copy kept elsewhere says
// so. `sallyport restored --reason …` appends one event naming that gap (the last event and the
// last checkpoint the backup holds) and gives the database a new deployment id, so the verifier
// says RESTORED with the gap instead of TAMPERED, brokers accept the older checkpoint table, and
// a copy started beside production is another deployment (it touches none of production's
// containers). The event is chained and signed by the next checkpoint like any other.
import { deploymentIdentity, latestCheckpoint, lockAuditHead, rotateDeployment, type Database } from '../db/index.js';
import { SallyportError } from '../errors.js';
import type { AuditLog } from './log.js';

export interface RestoreRecord {
  seq: string;
  throughSeq: string;
  lastCheckpoint: { n: string; seq: string } | null;
  previousDeployment: string;
  deployment: string;
}

export async function recordRestore(db: Database, audit: AuditLog, reason: string): Promise<RestoreRecord> {
  const why = reason.trim();
  if (why.length < 3 || why.length > 500) throw new SallyportError('BAD_REQUEST', '--reason: say why and from which backup (3–500 characters)');
  const previousDeployment = await deploymentIdentity(db);
  return db.transaction(async (tx) => {
    const head = await lockAuditHead(tx);
    const cp = await latestCheckpoint(tx);
    await rotateDeployment(tx);
    const deployment = await deploymentIdentity(tx);
    const lastCheckpoint = cp ? { n: cp.n, seq: cp.seq } : null;
    const row = await audit.append({ actor: 'system', action: 'audit.restored', details: { reason: why, throughSeq: head.seq, lastCheckpoint, previousDeployment, deployment } }, tx);
    return { seq: row.seq, throughSeq: head.seq, lastCheckpoint, previousDeployment, deployment };
  });
}
