// Benchmark: the auditor's evidence.
//   audit verification rate — events/s verifying a chain of BENCH_EVENTS (default 1 000 000)
//     events with checkpoints, against recomputing plain SHA-256 over the same bytes (baseline)
//   seek latency — p50/p95 of restoring the nearest keyframe and replaying to a random point of
//     a generated 1-hour recording with heavy output (16 KiB/s), against replaying from the
//     start (baseline), measured in @xterm/headless (the browser player's xterm version)
// Run: npx tsx bench/evidence.ts   (needs PostgreSQL as .ci/run sets it up)
import { createHash, randomUUID } from 'node:crypto';
import { canonicalJson, encodeEvent, GENESIS_HASH, hashEvent } from '../server/audit/index.js';
import type { Database } from '../server/db/index.js';
import { eventLine } from '../server/recording/index.js';
import { chunkEvents } from '../server/recording/asciicast.js';
import { headlessScreen } from '../server/recording/keyframes.js';
import { createReplay } from '../server/replay/index.js';
import { createSigner, generateSigningKey } from '../server/signing/index.js';
import { verifyAuditLog } from '../server/verify/index.js';
import { stats, withScratchDatabase } from './support.js';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 1_000_000);
const SEEKS = Number(process.env.BENCH_SEEKS ?? 40);


async function fillAudit(db: Database): Promise<void> {
  const signer = await createSigner(await generateSigningKey('bench'));
  let prev = GENESIS_HASH;
  const at = new Date('2026-11-23T00:00:00Z');
  for (let start = 1; start <= EVENTS; start += 5000) {
    const seqs: string[] = [], ats: Date[] = [], details: string[] = [], prevs: string[] = [], hashes: string[] = [];
    for (let s = start; s < Math.min(start + 5000, EVENTS + 1); s++) {
      const e = { seq: String(s), at: new Date(at.getTime() + s), actor: 'system', action: 'broker.started', subject: null, details: { version: `v${s}`, mode: 'bench' }, prevHash: prev };
      prev = hashEvent(e);
      seqs.push(e.seq), ats.push(e.at), details.push(JSON.stringify(e.details)), prevs.push(e.prevHash), hashes.push(prev);
    }
    await db.query(
      `insert into audit_events (seq, at, actor, action, subject, details, prev_hash, hash) overriding system value
       select s, a, 'system', 'broker.started', null, d::jsonb, p, h from unnest($1::bigint[], $2::timestamptz[], $3::text[], $4::text[], $5::text[]) as x(s, a, d, p, h)`,
      [seqs, ats, details, prevs, hashes],
    );
    // A checkpoint every 100 000 events, as a busy broker would sign every 30 s.
    if ((start + 4999) % 100_000 === 0 || start + 5000 > EVENTS) {
      const seq = seqs.at(-1)!;
      const jws = await signer.sign(canonicalJson({ typ: 'sallyport.audit-checkpoint', v: 1, iss: 'bench', seq, hash: prev, at: new Date().toISOString() }));
      await db.query(`insert into audit_checkpoints (seq, hash, signed_at, kid, jws) values ($1, $2, now(), 'bench', $3)`, [seq, prev, jws]);
    }
  }
  await db.query(`update audit_head set seq = $1, hash = $2`, [EVENTS, prev]);
  (fillAudit as unknown as { jwks: unknown }).jwks = signer.jwks();
}

async function main() {
  await withScratchDatabase(async (db) => {
    // --- audit verification
    let t0 = performance.now();
    await fillAudit(db);
    const fillS = (performance.now() - t0) / 1000;
    t0 = performance.now();
    const report = await verifyAuditLog(db, (fillAudit as unknown as { jwks: { keys: [] } }).jwks);
    const verifyS = (performance.now() - t0) / 1000;
    if (!report.ok) throw new Error(report.summary);
    // Baseline: read the same rows and hash their canonical bytes, nothing else.
    t0 = performance.now();
    for (let after = 0; after < EVENTS; after += 5000) {
      const { rows } = await db.query(`select seq::text, at, actor, action, subject, details, prev_hash from audit_events where seq > $1 order by audit_events.seq limit 5000`, [after]);
      for (const r of rows) createHash('sha256').update(encodeEvent({ ...r, prevHash: r.prev_hash })).digest('hex');
    }
    const baseS = (performance.now() - t0) / 1000;
    console.log(`audit: ${EVENTS} events written in ${fillS.toFixed(1)} s; ${report.summary}`);
    console.log(`audit verification: ${Math.round(EVENTS / verifyS)} events/s (${verifyS.toFixed(1)} s); baseline read+hash ${Math.round(EVENTS / baseS)} events/s; ratio ${(baseS / verifyS).toFixed(2)}×`);

    // --- seek in a 1-hour recording with heavy output
    const sessionId = randomUUID();
    const user = (await db.query(`insert into users (issuer, subject, username, groups) values ('bench', 'b', 'bench', '{}') returning id`)).rows[0].id;
    await db.query(`insert into console_sessions (id, user_id, target, runtime, image, command, broker_id) values ($1, $2, 'bench', 'docker', 'img', '{sh}', 'bench')`, [sessionId, user]);
    await db.query(`insert into recordings (session_id, header) values ($1, '{"version":2,"width":120,"height":40}')`, [sessionId]);
    await db.query(`insert into recording_chunks (session_id, seq, data, t_start, t_end) values ($1, 0, $2, 0, 0)`, [sessionId, Buffer.from('{"version":2,"width":120,"height":40}\n')]);
    let seed = 7;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    for (let sec = 0; sec < 3600; sec += 100) {
      const seqs: number[] = [], datas: Buffer[] = [], starts: number[] = [], ends: number[] = [];
      for (let s = sec; s < sec + 100; s++) {
        let text = '';
        for (let i = 0; i < 20; i++) {
          const t = s + i / 20;
          const body = `\x1b[3${rnd(8)}m${s}.${i} ${'row of heavy output '.repeat(4)}\x1b[0m ${'x'.repeat(rnd(300))}\r\n`.repeat(6);
          text += eventLine(t, 'o', body);
        }
        seqs.push(s + 1), datas.push(Buffer.from(text)), starts.push(s), ends.push(s + 0.95);
      }
      await db.query(
        `insert into recording_chunks (session_id, seq, data, t_start, t_end) select $1, q, d, a, b from unnest($2::int[], $3::bytea[], $4::float8[], $5::float8[]) as x(q, d, a, b)`,
        [sessionId, seqs, datas, starts, ends],
      );
    }
    await db.query(`update recordings set sealed_at = now(), sha256 = 'x', size_bytes = 0, duration_seconds = 3600 where session_id = $1`, [sessionId]);
    const replay = createReplay({ db, brokerId: 'bench' });
    t0 = performance.now();
    replay.enqueue(sessionId);
    await replay.idle();
    const index = await replay.index(sessionId);
    const mb = index.chunks.reduce((a, c) => a + c[3], 0) / 1024 / 1024;
    console.log(`recording: 1 h, ${mb.toFixed(0)} MiB, ${index.keyframes.length} keyframes built in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    const seekOnce = async (to: number, fromStart: boolean) => {
      const start = performance.now();
      const kf = fromStart ? undefined : [...index.keyframes].reverse().find((k) => k[1] <= to);
      const first = kf ? index.chunks.findIndex((c) => c[0] > kf[2]) : 0;
      let last = index.chunks.findIndex((c) => c[1] > to) - 1;
      if (last < 0) last = index.chunks.length - 1;
      const snapshot = kf ? await replay.keyframe(sessionId, kf[0]) : undefined;
      const screen = headlessScreen(snapshot?.cols ?? 120, snapshot?.rows ?? 40);
      if (snapshot) await screen.write(snapshot.screen);
      for (let a = first; a <= last; a += 16) {
        const chunks = await replay.chunks(sessionId, index.chunks[a]![0], index.chunks[Math.min(last, a + 15)]![0]);
        let batch = '';
        for (const c of chunks) for (const e of chunkEvents(c)) if (e.t <= to && e.code === 'o') batch += e.data;
        await screen.write(batch);
      }
      screen.dispose();
      return performance.now() - start;
    };
    const withKf: number[] = [];
    const fromStart: number[] = [];
    for (let i = 0; i < SEEKS; i++) {
      const to = rnd(3600_000) / 1000;
      withKf.push(await seekOnce(to, false));
      if (i < 5) fromStart.push(await seekOnce(to, true));
    }
    const k = stats(withKf);
    const b = stats(fromStart);
    console.log(`seek with keyframes: p50 ${k.p50.toFixed(1)} ms, p95 ${k.p95.toFixed(1)} ms (${SEEKS} random points)`);
    console.log(`seek replaying from the start (baseline, 5 points): p50 ${b.p50.toFixed(0)} ms; ratio ${(b.p50 / k.p50).toFixed(0)}× faster with keyframes`);
  });
}

void main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
