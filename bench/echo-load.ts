// Benchmark: a person's keystroke echo while N other consoles print bulk output, through one
// real `sallyport serve` process (browser WebSocket → broker → local Docker, every console
// recorded to PostgreSQL) against the same containers driven straight over the Engine API by the
// same client process (bench/load-client.ts `direct`), in interleaved rounds of the same run.
//   for N in ECHO_LOAD_BUSY (default 15,30): N consoles each printing without pause,
//   and one more where 200 keys are typed one at a time, each timed to its echo: p50, p99, max
// Run: npx tsx bench/echo-load.ts   (PostgreSQL and dockerd as .ci/run sets them up; ~4 minutes)
// Profile the broker: ECHO_LOAD_CPU_PROF=/tmp/prof npx tsx bench/echo-load.ts, then
//   npx tsx bench/profile-summary.ts /tmp/prof/*.cpuprofile
import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../server/paths.js';
import type { Report } from './load-client.js';
import { LoadClient } from './load-clients.js';
import { freePort } from '../server/dev/index.js';
import { percentile, startServeAlone } from './support.js';

const BUSY = (process.env.ECHO_LOAD_BUSY ?? '15,30').split(',').map(Number);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const KEYS = Number(process.env.BENCH_KEYS ?? 200);
// Bulk output without pause. `lines` (the default): the same 76-column line over and over,
// nearly free to make, so the figure is what carrying the bytes costs, not the CPU the
// containers spend making them; `table`: a hex dump of random bytes, which also takes the
// machine's CPU (15 such consoles want 7.5 cores of these two).
const BULK =
  (process.env.ECHO_LOAD_OUTPUT ?? 'lines') === 'table'
    ? 'while :; do head -c 200000 /dev/urandom | od -A d -t x1; done\n'
    : 'yes "$(head -c 57 /dev/zero | base64)"\n';
const OPEN_BATCH = 8;
const ids = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

/** One round: N busy consoles and one typed into, through `url` (or `direct`), in a client process of its own. */
async function round(url: string, cookie: string, origin: string, target: string, busy: number): Promise<number[]> {
  const client = new LoadClient(url, cookie, origin);
  try {
    // A few at a time: the engine refuses (ECONNRESET) dozens of creates at once from one client.
    const all = [...ids('busy', busy), 'person'];
    const opened: Report[] = [];
    for (let i = 0; i < all.length; i += OPEN_BATCH) {
      const batch = all.slice(i, i + OPEN_BATCH);
      opened.push(...(await client.do({ op: 'open', ids: batch, target }, batch.length, 180_000)));
    }
    const refused = opened.filter((r) => r.ev !== 'opened');
    if (refused.length) throw new Error(`${refused.length} consoles refused: ${JSON.stringify(refused[0])}`);
    client.send({ op: 'type', ids: ids('busy', busy), text: BULK });
    // Let the floods reach their pace first.
    await new Promise((r) => setTimeout(r, 3000));
    const [echo] = (await client.do({ op: 'echo', id: 'person', keys: KEYS }, 1, 300_000)) as [Report];
    if (echo.ev !== 'echo') throw new Error(`echo failed: ${JSON.stringify(echo)}`);
    await client.do({ op: 'close', ids: [...ids('busy', busy), 'person'] }, busy + 1, 120_000);
    return echo.times;
  } finally {
    client.stop();
  }
}

async function main() {
  const image = execFileSync('bash', [`${PACKAGE_ROOT}/images/build-busybox.sh`], { encoding: 'utf8' }).trim();
  const max = Math.max(...BUSY) + 1;
  const s = await startServeAlone(
    image,
    { SALLYPORT_MAX_CONSOLES_PER_USER: String(max + 5), SALLYPORT_MAX_CONSOLES: String(max + 10), SALLYPORT_LOG_LEVEL: 'warn' },
    process.env.ECHO_LOAD_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.ECHO_LOAD_CPU_PROF}`] : [],
  );
  const bridgePort = await freePort();
  // The same containers as the broker's `shell` target: half a CPU each.
  const bridge = spawn(process.execPath, ['--import', 'tsx', join(PACKAGE_ROOT, 'bench', 'ws-docker-bridge.ts'), String(bridgePort), image, '0.5'], { cwd: PACKAGE_ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise<void>((resolve, reject) => {
      bridge.stdout.once('data', () => resolve());
      bridge.once('exit', (code) => reject(new Error(`the ws → Docker bridge exited (${code}) before listening`)));
    });
    const figures: Record<string, number[]> = {};
    for (let i = 0; i < ROUNDS; i++) {
      for (const n of BUSY) {
        process.stderr.write(`round ${i + 1}, ${n} busy: direct\n`);
        (figures[`direct ${n}`] ??= []).push(...(await round('direct', 'none', 'none', image, n)));
        process.stderr.write(`round ${i + 1}, ${n} busy: bare ws → Docker bridge\n`);
        (figures[`bridge ${n}`] ??= []).push(...(await round(`http://127.0.0.1:${bridgePort}`, 'none', 'none', image, n)));
        process.stderr.write(`round ${i + 1}, ${n} busy: sallyport\n`);
        (figures[`sallyport ${n}`] ??= []).push(...(await round(s.url, s.cookie, s.origin, 'shell', n)));
      }
    }
    console.log(`keystroke echo while others print without pause, ${ROUNDS} rounds of ${KEYS} keys`);
    console.log('| busy consoles | path | echo p50 | echo p99 | max | p99 × direct | p99 × bridge |');
    console.log('| --- | --- | --- | --- | --- | --- | --- |');
    const f = (x: number) => `${x.toFixed(1)} ms`;
    for (const n of BUSY) {
      const d = percentile(figures[`direct ${n}`]!, 0.99);
      const b = percentile(figures[`bridge ${n}`]!, 0.99);
      for (const [name, key] of [['direct (Engine API attach)', 'direct'], ['bare ws → Docker bridge (floor)', 'bridge'], ['Sallyport browser console', 'sallyport']] as const) {
        const xs = figures[`${key} ${n}`]!;
        const p99 = percentile(xs, 0.99);
        console.log(`| ${n} | ${name} | ${f(percentile(xs, 0.5))} | ${f(p99)} | ${f(Math.max(...xs))} | ${(p99 / d).toFixed(2)} | ${(p99 / b).toFixed(2)} |`);
      }
    }
  } finally {
    // Killed whatever happened in the rounds: no bridge process outlives the benchmark.
    bridge.kill();
    await s.stop();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
