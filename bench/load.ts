// Load benchmark: hundreds of browser consoles through one real `sallyport serve` process on
// this machine, each client in a process of its own (bench/load-client.ts), real PostgreSQL and
// Docker. It measures, against the broker's own idle baseline in the same run:
//   30 at once      — 30 consoles asked for together: time to prompt p50/p95, none refused
//   300 + 30        — 300 idle consoles and 30 busy ones (each printing ~100 KiB/s of base64):
//                     broker RSS per console above idle, broker and PostgreSQL CPU, commits and
//                     rows a second, and a person's keystroke echo on one more console meanwhile
//   search lag      — a word printed on that console, to the moment /api/search finds it, under load
//   complete        — every recording byte-compared with what its client received (SHA-256)
//   1 GiB           — one console printing 1 GiB: broker RSS every few seconds (the curve), and
//                     its recording byte-compared too
// Run: npm run bench:load   (PostgreSQL and dockerd as .ci/run sets them up; ~8 minutes)
// Profile the broker meanwhile: LOAD_CPU_PROF=/tmp/prof npm run bench:load, then
//   npx tsx bench/profile-summary.ts /tmp/prof/*.cpuprofile
// Smaller: LOAD_IDLE=50 LOAD_BUSY=5 LOAD_SECONDS=10 LOAD_BIG_MIB=64 npx tsx bench/load.ts
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { openDatabase, readRecordingChunks } from '../server/db/index.js';
import { PACKAGE_ROOT } from '../server/paths.js';
import { chunkEvents } from '../server/recording/index.js';
import { createDockerRuntime } from '../server/runtime/index.js';
import { waitFor } from '../test/support/process.js';
import type { Report } from './load-client.js';
import { LoadClient as Client } from './load-clients.js';
import { benchConsoleSpec, percentile as pct, startServeAlone, untilDirectOutput } from './support.js';

const IDLE = Number(process.env.LOAD_IDLE ?? 300);
const BUSY = Number(process.env.LOAD_BUSY ?? 30);
const SECONDS = Number(process.env.LOAD_SECONDS ?? 30);
const BIG_MIB = Number(process.env.LOAD_BIG_MIB ?? 1024);
const OPEN_BATCH = 25;
// What the busy consoles print: a hex table (`od` of random bytes: numbers in columns, as logs
// and query results look) or random base64 (no word repeats: the search index's worst case).
const OUTPUT = process.env.LOAD_OUTPUT ?? 'table';
if (OUTPUT !== 'table' && OUTPUT !== 'base64') throw new Error('LOAD_OUTPUT must be table or base64');
/** A shell command printing about `bytes` of the chosen output. */
const printing = (bytes: number) =>
  OUTPUT === 'table' ? `head -c ${Math.round(bytes / 3.5)} /dev/urandom | od -A d -t x1` : `head -c ${Math.round((bytes * 3) / 4)} /dev/urandom | base64 -w 76`;
const TICK = 100; // USER_HZ: /proc/<pid>/stat counts CPU time in hundredths of a second on Linux

/** A percentile, or NaN when nothing was measured (every console refused, say). */
const percentile = (xs: number[], p: number) => (xs.length ? pct(xs, p) : Number.NaN);
const ids = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);
/** Resident memory in MiB; NaN once the process is gone (its exit is reported on its own). */
const rssMiB = (pid: number) => {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
};
/** User + system CPU seconds of a process. */
function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) / TICK;
}
/**
 * CPU seconds of the PostgreSQL backends serving the bench's database, per backend: other
 * brokers and tests on this machine use the same server, and their work is not ours.
 */
async function backendCpu(stats: pg.Client): Promise<Map<number, number>> {
  const { rows } = await stats.query<{ pid: number }>('select pid from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()');
  const out = new Map<number, number>();
  for (const { pid } of rows) {
    try {
      out.set(pid, cpuSeconds(pid));
    } catch {
      // the backend ended meanwhile
    }
  }
  return out;
}

/** CPU the backends spent between two samples (a backend that started meanwhile counts from zero). */
function backendCpuSince(before: Map<number, number>, after: Map<number, number>): number {
  let sum = 0;
  for (const [pid, s] of after) sum += s - (before.get(pid) ?? 0);
  return sum;
}

async function main() {
  const image = execFileSync('bash', [`${PACKAGE_ROOT}/images/build-busybox.sh`], { encoding: 'utf8' }).trim();
  const total = IDLE + BUSY + 2;
  // LOAD_CPU_PROF=<dir>: the broker writes a V8 CPU profile there when it stops (bench/profile-summary.ts reads it).
  const serve = await startServeAlone(image, { SALLYPORT_MAX_CONSOLES_PER_USER: '1000', SALLYPORT_MAX_CONSOLES: String(total + 10) }, process.env.LOAD_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.LOAD_CPU_PROF}`] : []);
  const { url, cookie } = serve;
  const database = { url: serve.databaseUrl };
  const stats = new pg.Client({ connectionString: database.url });
  await stats.connect();
  const clients: Client[] = [];
  const db = openDatabase(database.url, { poolSize: 2 });
  try {
    const pid = serve.pid;
    const [busy, idle, person] = [new Client(url, cookie, serve.origin), new Client(url, cookie, serve.origin), new Client(url, cookie, serve.origin)];
    clients.push(busy, idle, person);
    const sessions = new Map<string, string>();
    const opened = (rs: Report[]) => {
      const refused = rs.filter((r) => r.ev !== 'opened');
      for (const r of rs) if (r.ev === 'opened') sessions.set(r.id, r.sessionId);
      return { ms: rs.flatMap((r) => (r.ev === 'opened' ? [r.ms] : [])), refused };
    };

    // Warm up (first console loads code paths), then the idle baseline.
    const warm = opened(await person.do({ op: 'open', ids: ['warm'], target: 'shell' }, 1, 90_000));
    if (warm.refused.length) throw new Error(`the first console was refused: ${JSON.stringify(warm.refused[0])}`);
    await person.do({ op: 'close', ids: ['warm'] }, 1, 60_000);
    await new Promise((r) => setTimeout(r, 3000));
    const baseRss = rssMiB(pid);
    console.log(`broker idle baseline: ${baseRss.toFixed(0)} MiB RSS`);

    // The baseline for 30 at once: the same containers started together over the Engine API
    // (create, attach, start, first prompt), as many `docker run -it` at the same moment.
    const direct = createDockerRuntime({});
    const directRuns = await Promise.allSettled(
      Array.from({ length: BUSY }, async () => {
        const t = performance.now();
        const c = await direct.start(benchConsoleSpec(image), `bench-load-${process.pid}`);
        try {
          await untilDirectOutput(c, /\$ /);
          return performance.now() - t;
        } finally {
          await c.destroy();
        }
      }),
    );
    const directMs = directRuns.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const directFailed = directRuns.flatMap((r) => (r.status === 'rejected' ? [(r.reason as Error).message] : []));
    console.log(
      `${BUSY} containers started at once directly over the Engine API: prompt p50 ${percentile(directMs, 0.5).toFixed(0)} ms, p95 ${percentile(directMs, 0.95).toFixed(0)} ms` +
        (directFailed.length ? `, ${directFailed.length} failed (${directFailed[0]})` : ''),
    );

    // 30 at once.
    const atOnce = opened(await busy.do({ op: 'open', ids: ids('busy', BUSY), target: 'shell' }, BUSY, 180_000));
    console.log(
      `${BUSY} consoles asked for at once: prompt p50 ${percentile(atOnce.ms, 0.5).toFixed(0)} ms, p95 ${percentile(atOnce.ms, 0.95).toFixed(0)} ms, ` +
        `${atOnce.refused.length} refused (goal p95 ≤2000 ms, none refused)${atOnce.refused.length ? `: ${JSON.stringify(atOnce.refused[0])}` : ''}`,
    );

    // The idle ones, in batches, and the person's console.
    const t0 = performance.now();
    const idleMs: number[] = [];
    let idleRefused = 0;
    let firstRefusal = '';
    for (let i = 0; i < IDLE; i += OPEN_BATCH) {
      const batch = ids('idle', IDLE).slice(i, i + OPEN_BATCH);
      const o = opened(await idle.do({ op: 'open', ids: batch, target: 'shell' }, batch.length, 180_000));
      idleMs.push(...o.ms);
      idleRefused += o.refused.length;
      firstRefusal ||= o.refused[0] ? JSON.stringify(o.refused[0]) : '';
    }
    opened(await person.do({ op: 'open', ids: ['person'], target: 'shell' }, 1, 90_000));
    await new Promise((r) => setTimeout(r, 3000));
    const idleRss = rssMiB(pid);
    const live = sessions.size;
    console.log(
      `${IDLE} more opened ${OPEN_BATCH} at a time in ${((performance.now() - t0) / 1000).toFixed(0)} s (prompt p50 ${percentile(idleMs, 0.5).toFixed(0)} ms, p95 ${percentile(idleMs, 0.95).toFixed(0)} ms, ${idleRefused} refused${firstRefusal ? `, first: ${firstRefusal}` : ''}); ` +
        `${live} live: broker RSS ${idleRss.toFixed(0)} MiB, ${((idleRss - baseRss) / live).toFixed(2)} MiB per console above idle`,
    );

    // Load: the busy ones print ~100 KiB/s each; the person types and looks for words meanwhile.
    const pg0 = (await stats.query<{ c: string; i: string }>('select xact_commit c, tup_inserted i from pg_stat_database where datname = current_database()')).rows[0]!;
    const [cpu0, pgCpu0, at0] = [cpuSeconds(pid), await backendCpu(stats), performance.now()];
    busy.send({ op: 'type', ids: ids('busy', BUSY), text: `while :; do ${printing(100 * 1024)}; sleep 1; done\n` });
    const rssCurve: number[] = [];
    const sampler = setInterval(() => rssCurve.push(rssMiB(pid)), 1000);
    await new Promise((r) => setTimeout(r, 3000));
    const echoTimes: number[] = [];
    const lags: number[] = [];
    const loadEnds = performance.now() + SECONDS * 1000;
    while (performance.now() < loadEnds) {
      const [e] = await person.do({ op: 'echo', id: 'person', keys: 100 }, 1, 120_000);
      if (e?.ev !== 'echo') throw new Error(`echo failed: ${JSON.stringify(e)}`);
      echoTimes.push(...e.times);
      const word = `loadmark${randomBytes(4).toString('hex')}`;
      person.send({ op: 'type', ids: ['person'], text: `echo ${word.slice(0, 4)}""${word.slice(4)}\n` });
      const [s] = await person.do({ op: 'see', id: 'person', text: word, ms: 10_000 }, 1, 15_000);
      if (s?.ev !== 'seen') throw new Error(`marker not seen: ${JSON.stringify(s)}`);
      const found = await waitFor(
        'search to find the word',
        async () => {
          const r = await fetch(`${url}/api/search?q=${word}`, { headers: { cookie } });
          const body = (await r.json()) as { results?: unknown[] };
          return body.results && body.results.length > 0 ? Date.now() : undefined;
        },
        120_000,
      );
      lags.push(found - s.at);
    }
    const seconds = (performance.now() - at0) / 1000;
    const pg1 = (await stats.query<{ c: string; i: string }>('select xact_commit c, tup_inserted i from pg_stat_database where datname = current_database()')).rows[0]!;
    const [cpu1, pgCpu1] = [cpuSeconds(pid), await backendCpu(stats)];
    clearInterval(sampler);
    const peak = Math.max(...rssCurve);
    console.log(`under load for ${seconds.toFixed(0)} s (${live} live, ${BUSY} printing ~100 KiB/s of ${OUTPUT === 'table' ? 'a hex table' : 'random base64'}):`);
    console.log(`  broker RSS peak ${peak.toFixed(0)} MiB: ${((peak - baseRss) / live).toFixed(2)} MiB per console above idle (goal ≤2)`);
    console.log(`  broker CPU ${(((cpu1 - cpu0) / seconds) * 100).toFixed(0)}%, PostgreSQL CPU ${((backendCpuSince(pgCpu0, pgCpu1) / seconds) * 100).toFixed(0)}% (its backends for this database; of one core, the machine has 2)`);
    console.log(`  PostgreSQL ${((Number(pg1.c) - Number(pg0.c)) / seconds).toFixed(0)} commits/s, ${((Number(pg1.i) - Number(pg0.i)) / seconds).toFixed(0)} rows inserted/s`);
    console.log(
      `  keystroke echo on another console (${echoTimes.length} keys): p50 ${percentile(echoTimes, 0.5).toFixed(2)} ms, p99 ${percentile(echoTimes, 0.99).toFixed(2)} ms (goal p99 ≤5)`,
    );
    console.log(`  search finds a word printed on screen after (${lags.length} words): ${lags.map((l) => (l / 1000).toFixed(1)).join(', ')} s (goal ≤5)`);

    // End them all and byte-compare every recording with what its client received.
    const ended = [
      ...(await busy.do({ op: 'close', ids: ids('busy', BUSY) }, BUSY, 120_000)),
      ...(await idle.do({ op: 'close', ids: ids('idle', IDLE) }, IDLE, 300_000)),
      ...(await person.do({ op: 'close', ids: ['person'] }, 1, 60_000)),
    ];
    const verdict = await compareRecordings(db, ended);
    const recorded = ended.filter((r) => r.ev !== 'closed' || r.sessionId).length;
    console.log(`recordings complete: ${verdict.same} of ${recorded} byte-identical to what their clients received (${(verdict.bytes / 1024 / 1024).toFixed(0)} MiB)${verdict.problems.length ? `; ${verdict.problems.slice(0, 3).join('; ')}` : ''}`);

    // One console printing BIG_MIB: the broker's memory curve, and its recording.
    const bigBytes = BIG_MIB * 1024 * 1024;
    opened(await person.do({ op: 'open', ids: ['big'], target: 'shell' }, 1, 90_000));
    const bigCurve: Array<[number, number]> = [];
    const bigStart = performance.now();
    const bigSampler = setInterval(() => bigCurve.push([(performance.now() - bigStart) / 1000, rssMiB(pid)]), 5000);
    person.send({ op: 'type', ids: ['big'], text: `${printing(bigBytes)}; echo DO""NE\n` });
    await person.do({ op: 'see', id: 'big', text: 'DONE', ms: 1_500_000 }, 1, 1_600_000);
    const bigSeconds = (performance.now() - bigStart) / 1000;
    clearInterval(bigSampler);
    const bigEnd = await person.do({ op: 'close', ids: ['big'] }, 1, 120_000);
    const bigVerdict = await compareRecordings(db, bigEnd);
    // What the client received (the table's size is only roughly what was asked for).
    const bigMib = (bigEnd[0]?.ev === 'closed' ? bigEnd[0].bytes : bigBytes) / 2 ** 20;
    console.log(
      `one console printing ${bigMib.toFixed(0)} MiB: ${bigSeconds.toFixed(0)} s (${(bigMib / bigSeconds).toFixed(1)} MiB/s); broker RSS every 5 s: ${bigCurve.map(([, m]) => m.toFixed(0)).join(' ')} MiB; ` +
        `recording ${bigVerdict.same === 1 ? 'byte-identical' : `NOT identical: ${bigVerdict.problems.join('; ')}`} (${(bigVerdict.bytes / 1024 / 1024).toFixed(0)} MiB)`,
    );
  } catch (err) {
    console.error(`broker's last words:\n${serve.lastWords()}`);
    throw err;
  } finally {
    for (const c of clients) c.stop();
    await stats.end();
    await db.close();
    await serve.stop();
  }
}

/**
 * Each ended console's recording ('o' events, streamed chunk by chunk) against the SHA-256 its
 * client computed over every output frame. The last chunk is written as the console ends, so
 * a mismatch is retried for a few seconds before it counts.
 */
async function compareRecordings(db: ReturnType<typeof openDatabase>, ended: Report[]): Promise<{ same: number; bytes: number; problems: string[] }> {
  let same = 0;
  let bytes = 0;
  const problems: string[] = [];
  for (const r of ended) {
    if (r.ev !== 'closed') {
      problems.push(JSON.stringify(r));
      continue;
    }
    // A console that was refused at open has no session and no recording: counted as refused above.
    if (!r.sessionId) continue;
    let last = '';
    for (let attempt = 0; attempt < 10; attempt++) {
      const hash = createHash('sha256');
      let n = 0;
      for await (const chunk of readRecordingChunks(db, r.sessionId)) {
        for (const e of chunkEvents(chunk)) {
          if (e.code !== 'o') continue;
          const b = Buffer.from(e.data, 'utf8');
          hash.update(b);
          n += b.length;
        }
      }
      last = `${r.id}: recording ${n} bytes, client ${r.bytes}`;
      if (hash.digest('hex') === r.sha256) {
        same++;
        bytes += n;
        last = '';
        break;
      }
      await new Promise((res) => setTimeout(res, 1000));
    }
    if (last) problems.push(last);
  }
  return { same, bytes, problems };
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
