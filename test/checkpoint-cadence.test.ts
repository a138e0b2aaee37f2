// How often checkpoints are signed, on real PostgreSQL: one per interval while events arrive,
// none while the log is idle, and "the latest" always the newest — also past checkpoint 99,
// where a text ordering of the numbers once made every tick sign again (the checkpoint storm).
import { afterAll, describe, expect, it } from 'vitest';
import { createAuditLog, createCheckpointer } from '../server/audit/index.js';
import { latestCheckpoint } from '../server/db/index.js';
import { createSigner, generateSigningKey } from '../server/signing/index.js';
import { useDatabase } from './support/postgres.js';

const pg = useDatabase();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const stops: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const stop of stops) await stop();
});

describe('checkpoint cadence', () => {
  it('past checkpoint 100, the latest is the newest, an idle log gets none and each interval with events gets one', async () => {
    const { db } = pg;
    const signer = await createSigner(await generateSigningKey('cadence'));
    const audit = createAuditLog(db);
    const checkpointer = createCheckpointer({ db, signer, issuer: 'test', everyMs: 300, tickMs: 20 });
    const count = async () => Number((await db.query(`select count(*)::int as n from audit_checkpoints`)).rows[0].n);
    for (let i = 0; i < 130; i++) {
      await audit.append({ actor: 'system', action: 'broker.started', details: { version: `v${i}`, mode: 'test', leaseSeconds: 30 } });
      await checkpointer.checkpoint();
    }
    expect(await count()).toBe(130);
    // The ordering itself: numbers compare as numbers ("99" sorts after "130" as text).
    const latest = await latestCheckpoint(db);
    expect(latest?.n).toBe('130');
    expect((await checkpointer.latest())?.n).toBe('130');
    const head = (await db.query(`select seq::text from audit_head`)).rows[0].seq;
    expect(latest?.seq).toBe(head);

    // Idle: the head is signed, so no tick signs again (the storm signed on every 20 ms tick).
    const stop = checkpointer.start({ warn: () => undefined });
    stops.push(stop);
    await sleep(1500);
    expect(await count()).toBe(130);

    // Events arriving for ~1.5 s: one checkpoint per 300 ms interval at most, the last the newest.
    const t0 = Date.now();
    let i = 0;
    while (Date.now() - t0 < 1500) {
      await audit.append({ actor: 'system', action: 'broker.started', details: { version: `busy${i++}`, mode: 'test', leaseSeconds: 30 } });
      await sleep(25);
    }
    const signedWhileBusy = (await count()) - 130;
    expect(signedWhileBusy).toBeGreaterThanOrEqual(2);
    expect(signedWhileBusy).toBeLessThanOrEqual(Math.ceil((Date.now() - t0) / 300) + 1);
    await sleep(700);
    const newest = await checkpointer.latest();
    expect(newest?.n).toBe(String(await count()));
    expect(newest?.seq).toBe((await db.query(`select seq::text from audit_head`)).rows[0].seq);
    const settled = await count();
    await sleep(1000);
    expect(await count()).toBe(settled);
  });
});
