// Benchmark: a browser console through Sallyport vs the same container driven directly over
// the Docker Engine API (create + attach + start, as `docker run -it` does), in the same run.
//   time to prompt   — from asking for a console to the shell's prompt on screen
//   keystroke echo   — one key to its echo, 200 keys a round, 3 rounds
//   throughput       — 16 MiB of terminal output, with recording to PostgreSQL on
// Echo and throughput run the client in its own process for both paths (bench/terminal-client.ts),
// and for a floor measured in the same rounds: a bare ws → Docker attach bridge in a process of
// its own (bench/ws-docker-bridge.ts), the broker's two ends with nothing of the broker between.
// Run: npx tsx bench/console.ts   (needs PostgreSQL and dockerd as .ci/run sets them up)
import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { freePort } from '../server/dev/index.js';
import { PerformanceObserver } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { PACKAGE_ROOT } from '../server/paths.js';
import { createDockerRuntime } from '../server/runtime/index.js';
import { Browser, startTestBroker } from '../test/support/broker.js';
import { connectConsole, PROMPT } from '../test/support/console-client.js';
import { writeConsoleCatalog } from '../test/support/console-catalog.js';
import { benchConsoleSpec, percentile, scratchBrokerDatabase, stats, terminalClient, untilDirectOutput } from './support.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 15);


async function main() {
  const image = execFileSync('bash', [`${PACKAGE_ROOT}/images/build-busybox.sh`], { encoding: 'utf8' }).trim();
  const database = await scratchBrokerDatabase();
  const t = await startTestBroker(
    { SALLYPORT_CATALOG: writeConsoleCatalog(image), CONSOLE_GREETING: 'bench' },
    { database: { ...database, drop: async () => {} } },
  );
  try {
    const b = new Browser();
    await t.login(b, 'alice');
    const cookie = `sallyport=${b.cookies(t.url).get('sallyport')}`;
    const direct = createDockerRuntime({});
    const directBroker = `bench-${randomBytes(3).toString('hex')}`;
    const spec = () => benchConsoleSpec(image);

    const viaBroker: number[] = [];
    const viaDocker: number[] = [];
    const tpBroker: number[] = [];
    const tpDocker: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      let t0 = performance.now();
      const d = await direct.start(spec(), directBroker);
      await untilDirectOutput(d, /\$ /);
      viaDocker.push(performance.now() - t0);
      await d.destroy();

      t0 = performance.now();
      const c = await connectConsole(t.url, 'shell', { cookie });
      await c.waitFor(PROMPT);
      viaBroker.push(performance.now() - t0);
      c.ws.close();
      await c.closed;
    }
    // Echo and throughput with the client in its own process, for both (bench/terminal-client.ts).
    const echoBroker: number[] = [];
    const echoDocker: number[] = [];
    const echoBridge: number[] = [];
    const tpBridge: number[] = [];
    const bridgePort = await freePort();
    const bridge = spawn(process.execPath, ['--import', 'tsx', join(PACKAGE_ROOT, 'bench', 'ws-docker-bridge.ts'), String(bridgePort), image], { cwd: PACKAGE_ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    // Up once it says so; a bridge that dies first (no engine, a bad image) fails the run now.
    await new Promise<void>((resolve, reject) => {
      bridge.stdout.once('data', () => resolve());
      bridge.once('exit', (code) => reject(new Error(`the ws → Docker bridge exited (${code}) before listening`)));
    });
    // The broker runs in this process: its garbage collection while it serves the client (the
    // allocations per byte of the output path, measured as GC time) is counted apart.
    let counting = false;
    const gc = { n: 0, ms: 0 };
    const gcObserver = new PerformanceObserver((list) => {
      if (!counting) return;
      for (const e of list.getEntries()) {
        gc.n++;
        gc.ms += e.duration;
      }
    });
    gcObserver.observe({ entryTypes: ['gc'] });
    const cpu0 = process.cpuUsage();
    let brokerCpu = 0;
    try {
      for (let i = 0; i < 3; i++) {
        const dd = await terminalClient(['docker', image]);
        echoDocker.push(...dd.echo);
        tpDocker.push(dd.bytesPerSecond);
        counting = true;
        const c0 = process.cpuUsage(cpu0);
        const bb = await terminalClient(['broker', t.url, cookie, 'shell']);
        const c1 = process.cpuUsage(cpu0);
        counting = false;
        brokerCpu += (c1.user + c1.system - c0.user - c0.system) / 1000;
        echoBroker.push(...bb.echo);
        tpBroker.push(bb.bytesPerSecond);
        const fb = await terminalClient(['broker', `http://127.0.0.1:${bridgePort}`, 'none', 'bridge']);
        echoBridge.push(...fb.echo);
        tpBridge.push(fb.bytesPerSecond);
      }
    } finally {
      // Killed whatever happened in the rounds: no bridge process outlives the benchmark.
      bridge.kill();
    }
    gcObserver.disconnect();
    const a = stats(viaBroker);
    const d = stats(viaDocker);
    const mb = (x: number) => (x / 1024 / 1024).toFixed(1);
    const med = (xs: number[]) => stats(xs).p50;
    console.log(`time to prompt (${RUNS} runs)`);
    console.log(`  direct Docker API   p50 ${d.p50.toFixed(0)} ms   p95 ${d.p95.toFixed(0)} ms`);
    console.log(`  Sallyport console   p50 ${a.p50.toFixed(0)} ms   p95 ${a.p95.toFixed(0)} ms   (WebSocket + session row + recording + audit)`);
    console.log(`  ratio               p50 ${(a.p50 / d.p50).toFixed(2)}x   p95 ${(a.p95 / d.p95).toFixed(2)}x`);
    const ms = (x: number) => x.toFixed(2);
    const [eb50, ed50, eb99, ed99] = [percentile(echoBroker, 0.5), percentile(echoDocker, 0.5), percentile(echoBroker, 0.99), percentile(echoDocker, 0.99)];
    console.log(`keystroke echo (${echoBroker.length} keys each, client in its own process)`);
    console.log(`  direct Docker API   p50 ${ms(ed50)} ms   p99 ${ms(ed99)} ms`);
    console.log(`  Sallyport console   p50 ${ms(eb50)} ms   p99 ${ms(eb99)} ms`);
    console.log(`  ratio               p50 ${(eb50 / ed50).toFixed(2)}x   p99 ${(eb99 / ed99).toFixed(2)}x   (goal p50 ≤1.3x, p99 ≤2x)`);
    const [ef50, ef99] = [percentile(echoBridge, 0.5), percentile(echoBridge, 0.99)];
    console.log(`  floor: bare ws → Docker bridge   p50 ${ms(ef50)} ms (${(ef50 / ed50).toFixed(2)}x)   p99 ${ms(ef99)} ms (${(ef99 / ed99).toFixed(2)}x)`);
    console.log(`throughput (16 MiB of output, median of 3, client in its own process)`);
    console.log(`  direct Docker API   ${mb(med(tpDocker))} MiB/s`);
    console.log(`  Sallyport console   ${mb(med(tpBroker))} MiB/s   (recorded to PostgreSQL)`);
    console.log(`  ratio               ${(med(tpBroker) / med(tpDocker)).toFixed(2)}x`);
    console.log(`  floor: bare ws → Docker bridge   ${mb(med(tpBridge))} MiB/s (${(med(tpBridge) / med(tpDocker)).toFixed(2)}x)`);
    const mib = (3 * Number(process.env.BENCH_BYTES ?? 16 * 1024 * 1024)) / 2 ** 20;
    console.log(`broker process while serving (3 rounds of echo + ${mib / 3} MiB): CPU ${(brokerCpu / mib).toFixed(1)} ms per MiB, GC ${gc.n} collections, ${(gc.ms / mib).toFixed(2)} ms per MiB`);
  } finally {
    await t.close();
    await database.drop();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
