// Benchmark: what the evidence features cost on the recording path. The same 32 MiB of
// terminal output (coloured lines, 16 KiB writes) is recorded into PostgreSQL twice in one run:
//   on  — the broker's Recorder: chunk hash chain, screen text and command indexing (full-text
//         and trigram indexes), chunk time spans, one INSERT per ~1 s / 256 KiB chunk
//   off — a baseline recorder as before the evidence work: the same asciicast lines and
//         chunking, a running SHA-256, a plain chunk INSERT
// Run: npx tsx bench/recording.ts   (needs PostgreSQL as .ci/run sets it up)
import { createHash, randomUUID } from 'node:crypto';
import { appendRecordingChunk, createRecording, sealRecording, type Database } from '../server/db/index.js';
import { eventLine, headerLine, Recorder } from '../server/recording/index.js';
import { withScratchDatabase } from './support.js';

const MIB = Number(process.env.BENCH_MIB ?? 32);
const piece = Array.from({ length: 200 }, (_, i) => `\x1b[3${i % 8}m${i} SELECT * FROM invoices WHERE id = ${i * 7919};\x1b[0m ok\r\n`).join('').slice(0, 16 * 1024);

async function session(db: Database): Promise<string> {
  const id = randomUUID();
  const user = (await db.query(`insert into users (issuer, subject, username, groups) values ('bench', $1, 'bench', '{}') returning id`, [id])).rows[0].id;
  await db.query(`insert into console_sessions (id, user_id, target, runtime, image, command, broker_id) values ($1, $2, 'bench', 'docker', 'img', '{sh}', 'bench')`, [id, user]);
  return id;
}

async function withEvidence(db: Database): Promise<number> {
  const id = await session(db);
  const t0 = performance.now();
  const rec = await Recorder.start(
    { create: (s, h) => createRecording(db, s, h as unknown as Record<string, unknown>), append: (s, q, d, c, m) => appendRecordingChunk(db, s, q, d, c, m), seal: (s, x) => sealRecording(db, s, x) },
    id,
    { version: 2, width: 120, height: 40, timestamp: 0 },
    { recordInput: true, onFailure: (e) => console.error(e) },
  );
  for (let sent = 0; sent < MIB * 1024 * 1024; sent += piece.length) {
    rec.output(piece);
    // Back off as the console does when storage lags.
    while (rec.backlog > 1024 * 1024) await new Promise((r) => setTimeout(r, 5));
  }
  await rec.seal();
  return performance.now() - t0;
}

async function baseline(db: Database): Promise<number> {
  const id = await session(db);
  const t0 = performance.now();
  await db.query(`insert into recordings (session_id, header) values ($1, '{}')`, [id]);
  const hash = createHash('sha256');
  const started = performance.now();
  let seq = 0;
  let pending: Buffer[] = [];
  let bytes = 0;
  let writing = Promise.resolve();
  const flush = () => {
    const data = Buffer.concat(pending);
    pending = [];
    bytes = 0;
    hash.update(data);
    const s = seq++;
    writing = writing.then(() => db.query(`insert into recording_chunks (session_id, seq, data) values ($1, $2, $3)`, [id, s, data]).then(() => undefined));
  };
  pending.push(Buffer.from(headerLine({ version: 2, width: 120, height: 40, timestamp: 0 })));
  flush();
  for (let sent = 0; sent < MIB * 1024 * 1024; sent += piece.length) {
    const line = Buffer.from(eventLine((performance.now() - started) / 1000, 'o', piece));
    pending.push(line);
    bytes += line.length;
    if (bytes >= 256 * 1024) flush();
    if (seq % 8 === 0) await writing;
  }
  flush();
  await writing;
  await db.query(`update recordings set sha256 = $2, size_bytes = 0, sealed_at = now() where session_id = $1`, [id, hash.digest('hex')]);
  return performance.now() - t0;
}

async function main() {
  await withScratchDatabase(async (db) => {
    // Diagnosis: BENCH_DROP=name,name drops indexes first, to see what each one costs.
    for (const idx of (process.env.BENCH_DROP ?? '').split(',').filter(Boolean)) await db.query(`drop index ${idx}`);
    const on: number[] = [];
    const off: number[] = [];
    for (let i = 0; i < 3; i++) {
      off.push(await baseline(db));
      on.push(await withEvidence(db));
    }
    const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[1]!;
    const rate = (ms: number) => MIB / (ms / 1000);
    console.log(`recording ${MIB} MiB of output, median of 3`);
    console.log(`  off (plain chunks + SHA-256)              ${rate(med(off)).toFixed(1)} MiB/s`);
    console.log(`  on  (chain + text/command index + spans)  ${rate(med(on)).toFixed(1)} MiB/s`);
    console.log(`  ratio                                     ${(med(off) / med(on)).toFixed(2)}x`);
  });
}

void main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
