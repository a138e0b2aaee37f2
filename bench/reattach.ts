// Benchmark: how long a page waits to have its console back after its socket drops (a reload,
// a blip) — to the broker's `started` and to the screen being back — against opening a fresh
// console in the same run (what a reload cost before reattaching existed). One real `sallyport
// serve` process, Docker, PostgreSQL; the client in its own process (bench/reattach-client.ts).
// Run: npx tsx bench/reattach.ts   (BENCH_ROUNDS, default 30)
import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../server/paths.js';
import { percentile, startServeAlone } from './support.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 30);

async function main() {
  const image = execFileSync('bash', [`${PACKAGE_ROOT}/images/build-busybox.sh`], { encoding: 'utf8' }).trim();
  const s = await startServeAlone(image, { SALLYPORT_REATTACH_SECONDS: '60', SALLYPORT_LOG_LEVEL: 'warn' });
  try {
    const child = spawn(process.execPath, ['--import', 'tsx', join(PACKAGE_ROOT, 'bench', 'reattach-client.ts'), s.url, s.cookie, s.origin, 'shell', String(ROUNDS)], {
      cwd: PACKAGE_ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    const code = await new Promise<number | null>((r) => child.once('exit', r));
    if (code !== 0) throw new Error(`the client failed (${code})`);
    const r = JSON.parse(out) as { open: number[]; started: number[]; screen: number[] };
    const f = (xs: number[], p: number) => `${percentile(xs, p).toFixed(1)} ms`;
    console.log(`a page coming back for its console, ${ROUNDS} rounds each`);
    console.log('| what the page waits for | p50 | p95 | p50 × a fresh console |');
    console.log('| --- | --- | --- | --- |');
    const base = percentile(r.open, 0.5);
    for (const [name, xs] of [['a fresh console to its prompt (the baseline)', r.open], ['reattach: `started`', r.started], ['reattach: the screen back', r.screen]] as const) {
      console.log(`| ${name} | ${f(xs, 0.5)} | ${f(xs, 0.95)} | ${(percentile(xs, 0.5) / base).toFixed(2)} |`);
    }
  } finally {
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
