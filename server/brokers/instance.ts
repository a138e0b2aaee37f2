// This broker process as one row of the `brokers` table: a unique instance id, registered with
// `broker.started`, kept alive by a heartbeat, ended with `broker.stopped` after a clean drain.
// A broker that finds its own row already stopped was taken over (it stalled past the lease):
// it must then stop serving its consoles, whose containers a survivor has removed.
import { randomBytes } from 'node:crypto';
import type { AuditLog } from '../audit/index.js';
import { heartbeatBroker, markBrokerStopped, registerBroker, type Database } from '../db/index.js';

export interface BrokerInstance {
  /** `<prefix>-<12 hex>`: unique per process, never reused. */
  readonly id: string;
  readonly leaseSeconds: number;
  /**
   * Heartbeat, then `each` (takeover of dead brokers, reaping), every third of the lease;
   * `onTakenOver` runs once if this broker's own row was declared lost. After this broker could
   * not beat for longer than a lease (a database outage or failover: every broker was cut off
   * alike), `each` waits one more lease, so the others beat again before anyone judges them
   * dead. Returns a stop function.
   */
  start(each: () => Promise<unknown>, onTakenOver: () => void, log: { warn(obj: object, msg: string): void; error(obj: object, msg: string): void }): () => Promise<void>;
  /** Marks the row stopped and audits `broker.stopped` (after the drain). */
  stop(): Promise<void>;
}

export async function registerInstance(deps: {
  db: Database;
  audit: AuditLog;
  prefix: string;
  version: string;
  mode: string;
  leaseSeconds: number;
}): Promise<BrokerInstance> {
  const { db, audit } = deps;
  const id = `${deps.prefix}-${randomBytes(6).toString('hex')}`;
  await db.transaction(async (tx) => {
    await registerBroker(tx, id, deps.version, deps.leaseSeconds);
    await audit.append({ actor: 'system', action: 'broker.started', subject: id, details: { version: deps.version, mode: deps.mode, leaseSeconds: deps.leaseSeconds } }, tx);
  });
  return {
    id,
    leaseSeconds: deps.leaseSeconds,
    start(each, onTakenOver, log) {
      let pass: Promise<void> | undefined;
      let takenOver = false;
      const leaseMs = deps.leaseSeconds * 1000;
      let lastBeat = performance.now();
      let judgeFrom = lastBeat;
      const tick = async () => {
        if (takenOver) return;
        if (!(await heartbeatBroker(db, id))) {
          takenOver = true;
          log.error({ broker: id }, 'this broker was declared lost by another one; ending its consoles');
          onTakenOver();
          return;
        }
        const now = performance.now();
        if (now - lastBeat > leaseMs) {
          judgeFrom = now + leaseMs;
          log.warn({ broker: id, unreachableSeconds: Math.round((now - lastBeat) / 1000) }, 'the database is back after more than a lease: other brokers get a lease to beat again before any is taken over');
        }
        lastBeat = now;
        if (now < judgeFrom) return;
        await each();
      };
      const timer = setInterval(() => {
        pass ??= tick()
          .catch((err: unknown) => log.warn({ broker: id }, `broker heartbeat or takeover failed, will retry: ${(err as Error).message}`))
          .finally(() => {
            pass = undefined;
          });
      }, Math.max(1000, (deps.leaseSeconds * 1000) / 3));
      timer.unref();
      return async () => {
        clearInterval(timer);
        await pass;
      };
    },
    async stop() {
      await db.transaction(async (tx) => {
        if (await markBrokerStopped(tx, id)) {
          await audit.append({ actor: 'system', action: 'broker.stopped', subject: id, details: { version: deps.version } }, tx);
        }
      });
    },
  };
}
