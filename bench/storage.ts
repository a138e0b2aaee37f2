// Benchmark: database bytes per MiB of console output, after the search indexer has drained and
// a VACUUM. Each workload is recorded by the broker's Recorder into a scratch PostgreSQL and
// indexed by the broker's indexer (the same code as in production), then every recording table
// (chunks, screen text, commands, keyframes, the index queue: heap, TOAST and indexes) is
// measured. The baseline in the same run is the recording as a .cast file (the asciicast bytes a
// download gives, what any recorder must keep): every figure is database bytes per MiB of
// output, and the last column what the database holds per byte of that file.
//   lines  — `seq 1 1500000`: short lines, every word distinct (the worst case for an index)
//   hexdump — `xxd` of random bytes: long lines of hex, nothing repeats
//   typing — an interactive session: a prompt, a command, a few lines of answer, 2,000 times
// Run: npx tsx bench/storage.ts   (needs PostgreSQL as .ci/run sets it up)
import { randomBytes, randomUUID } from 'node:crypto';
import { appendRecordingChunk, createRecording, readStoredChunks, sealRecording, type Database } from '../server/db/index.js';
import { encodeChunk } from '../server/db/chunk-codec.js';
import { Recorder } from '../server/recording/index.js';
import { startWordIndexer } from '../server/replay/index.js';
import { withScratchDatabase } from './support.js';

const MiB = 1024 * 1024;

function* lines(): Generator<string> {
  let batch = '';
  for (let i = 1; i <= 1_500_000; i++) {
    batch += `${i}\r\n`;
    if (batch.length >= 16 * 1024) {
      yield batch;
      batch = '';
    }
  }
  if (batch) yield batch;
}

function* hexdump(): Generator<string> {
  let offset = 0;
  for (let n = 0; n < 400; n++) {
    let out = '';
    for (let l = 0; l < 256; l++, offset += 16) {
      const b = randomBytes(16);
      const hex = b.toString('hex').match(/..../g)!.join(' ');
      const ascii = [...b].map((c) => (c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : '.')).join('');
      out += `${offset.toString(16).padStart(8, '0')}: ${hex}  ${ascii}\r\n`;
    }
    yield out;
  }
}

function* typing(): Generator<{ input?: string; output: string }> {
  for (let i = 0; i < 2000; i++) {
    const cmd = `Invoice.where(customer_id: ${i * 7919}).sum(:amount)`;
    yield { output: 'irb(main):001> ' };
    yield { input: `${cmd}\r`, output: `${cmd}\r\n` };
    yield { output: `=> ${(i * 31.7).toFixed(2)}\r\n  Invoice Load (0.${i % 9}ms)  SELECT SUM("invoices"."amount") FROM "invoices" WHERE "invoices"."customer_id" = ${i * 7919}\r\n` };
  }
}

const TABLES = ['recording_chunks', 'recording_text', 'recording_commands', 'recording_keyframes', 'recording_index_queue'];

async function record(db: Database, events: Iterable<string | { input?: string; output: string }>): Promise<{ id: string; output: number }> {
  const id = randomUUID();
  const user = (await db.query(`insert into users (issuer, subject, username, groups) values ('bench', $1, 'bench', '{}') returning id`, [id])).rows[0].id;
  await db.query(`insert into console_sessions (id, user_id, target, runtime, image, command, broker_id) values ($1, $2, 'bench', 'docker', 'img', '{sh}', 'bench')`, [id, user]);
  const rec = await Recorder.start(
    { create: (s, h) => createRecording(db, s, h as unknown as Record<string, unknown>), append: (s, q, d, c, m) => appendRecordingChunk(db, s, q, d, c, m), seal: (s, x) => sealRecording(db, s, x) },
    id,
    { version: 2, width: 120, height: 40, timestamp: 0 },
    { recordInput: true, onFailure: (e) => console.error(e) },
  );
  let output = 0;
  for (const e of events) {
    const ev = typeof e === 'string' ? { output: e } : e;
    if (ev.input) rec.input(ev.input);
    rec.output(ev.output);
    output += Buffer.byteLength(ev.output);
    while (rec.backlog > MiB) await new Promise((r) => setTimeout(r, 5));
  }
  await rec.seal();
  return { id, output };
}

async function drained(db: Database): Promise<void> {
  while ((await db.query(`select 1 from recording_index_queue limit 1`)).rowCount) await new Promise((r) => setTimeout(r, 100));
}

async function sizes(db: Database): Promise<{ chunks: number; total: number; byTable: Record<string, number> }> {
  for (const t of TABLES) await db.query(`vacuum ${t}`);
  const byTable: Record<string, number> = {};
  for (const t of TABLES) byTable[t] = Number((await db.query(`select pg_total_relation_size($1) as n`, [t])).rows[0].n);
  return { chunks: byTable.recording_chunks!, total: Object.values(byTable).reduce((a, b) => a + b, 0), byTable };
}

async function main() {
  const workloads: Array<[string, () => Iterable<string | { input?: string; output: string }>]> = [
    ['lines (seq 1 1500000)', lines],
    ['hexdump (xxd, random)', hexdump],
    ['typing (irb, 2,000 commands)', typing],
  ];
  console.log('database bytes per MiB of console output, indexer drained, after VACUUM');
  console.log('workload                        output   .cast (baseline)  chunks stored   search index   database total   total/.cast   compress CPU');
  for (const [name, make] of workloads) {
    await withScratchDatabase(async (db) => {
      // Diagnosis: BENCH_SQL='statement; statement' runs first (an index option, a dropped index).
      for (const q of (process.env.BENCH_SQL ?? '').split(';').filter((x) => x.trim())) await db.query(q);
      const stop = startWordIndexer(db, { warn: (o, m) => console.error(m, o) }, 1000);
      const { id, output } = await record(db, make());
      await drained(db);
      await stop();
      const s = await sizes(db);
      if (process.env.BENCH_DETAIL) {
        const { rows } = await db.query(
          `select c.relname, pg_total_relation_size(c.oid) as bytes from pg_class c join pg_namespace n on n.oid = c.relnamespace
            where n.nspname = 'public' and c.relname like 'recording%' and c.relkind in ('r', 'i') order by 2 desc`,
        );
        for (const r of rows) if (Number(r.bytes) > 64 * 1024) console.log(`    ${r.relname.padEnd(40)} ${(Number(r.bytes) / 1024).toFixed(0).padStart(8)} KiB`);
      }
      const per = (b: number) => b / (output / MiB) / MiB;
      const rest = s.byTable.recording_text! + s.byTable.recording_commands!;
      // What storing compressed costs the broker: its chunks encoded again, CPU time per MiB of output.
      const raw: Buffer[] = [];
      for await (const c of readStoredChunks(db, id)) raw.push(c.data);
      const cast = raw.reduce((a, b) => a + b.length, 0);
      const cpu0 = process.cpuUsage();
      for (const r of raw) await encodeChunk(r);
      const cpu = process.cpuUsage(cpu0);
      const cpuMs = (cpu.user + cpu.system) / 1000 / (output / MiB);
      console.log(
        `${name.padEnd(30)} ${(output / MiB).toFixed(1).padStart(5)} MiB ${per(cast).toFixed(2).padStart(9)} MiB/MiB ${per(s.chunks).toFixed(2).padStart(8)} MiB/MiB ${per(rest).toFixed(2).padStart(8)} MiB/MiB ${per(s.total).toFixed(2).padStart(9)} MiB/MiB ${(s.total / cast).toFixed(2).padStart(9)}x ${cpuMs.toFixed(1).padStart(9)} ms/MiB`,
      );
    });
  }
}

void main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
