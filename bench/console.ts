// Benchmark: a browser console through Sallyport vs the same container driven directly over
// the Docker Engine API (create + attach + start, as `docker run -it` does), in the same run.
//   time to prompt   — from asking for a console to the shell's prompt on screen
//   throughput       — 16 MiB of terminal output, with recording to PostgreSQL on
// Run: npx tsx bench/console.ts   (needs PostgreSQL and dockerd as .ci/run sets them up)
import { execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { PACKAGE_ROOT } from '../server/paths.js';
import { createDockerRuntime, type RunningConsole } from '../server/runtime/index.js';
import { Browser, startTestBroker } from '../test/support/broker.js';
import { connectConsole, PROMPT } from '../test/support/console-client.js';
import { writeConsoleCatalog } from '../test/support/console-catalog.js';
import { scratchBrokerDatabase, stats } from './support.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 15);
const BYTES = 16 * 1024 * 1024;
// Output is base64 of zeros: 4/3 of the input, in 77-byte lines.
const OUTPUT_CMD = `head -c ${(BYTES * 3) / 4} /dev/zero | base64 -w 76; echo "DO""NE"\n`;


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
    const spec = () => ({
      sessionId: randomUUID(),
      target: 'shell',
      username: 'bench',
      command: ['sh'],
      env: {},
      size: { cols: 80, rows: 24 },
      nodes: [],
      container: { image, user: '1000:1000', limits: { memoryBytes: 64 * 1024 ** 2, cpus: 1, pids: 32 }, network: 'none' },
    });
    const waitDirect = (c: RunningConsole, re: RegExp) =>
      new Promise<void>((resolve) => {
        let seen = '';
        const on = (d: Buffer) => {
          seen = (seen + d.toString('latin1')).slice(-200);
          if (re.test(seen)) {
            c.output.off('data', on);
            resolve();
          }
        };
        c.output.on('data', on);
      });

    const viaBroker: number[] = [];
    const viaDocker: number[] = [];
    const tpBroker: number[] = [];
    const tpDocker: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      let t0 = performance.now();
      const d = await direct.start(spec(), directBroker);
      await waitDirect(d, /\$ /);
      viaDocker.push(performance.now() - t0);
      if (i < 3) {
        t0 = performance.now();
        d.input.write(OUTPUT_CMD);
        await waitDirect(d, /^DONE/m);
        tpDocker.push(BYTES / ((performance.now() - t0) / 1000));
      }
      await d.destroy();

      t0 = performance.now();
      const c = await connectConsole(t.url, 'shell', { cookie });
      await c.waitFor(PROMPT);
      viaBroker.push(performance.now() - t0);
      if (i < 3) {
        t0 = performance.now();
        c.send({ type: 'input', data: OUTPUT_CMD });
        await c.waitFor(/^DONE/m, 120_000);
        tpBroker.push(BYTES / ((performance.now() - t0) / 1000));
      }
      c.ws.close();
      await c.closed;
    }
    const a = stats(viaBroker);
    const d = stats(viaDocker);
    const mb = (x: number) => (x / 1024 / 1024).toFixed(1);
    const med = (xs: number[]) => stats(xs).p50;
    console.log(`time to prompt (${RUNS} runs)`);
    console.log(`  direct Docker API   p50 ${d.p50.toFixed(0)} ms   p95 ${d.p95.toFixed(0)} ms`);
    console.log(`  Sallyport console   p50 ${a.p50.toFixed(0)} ms   p95 ${a.p95.toFixed(0)} ms   (WebSocket + session row + recording + audit)`);
    console.log(`  ratio               p50 ${(a.p50 / d.p50).toFixed(2)}x   p95 ${(a.p95 / d.p95).toFixed(2)}x`);
    console.log(`throughput (${mb(BYTES)} MiB of output, median of 3)`);
    console.log(`  direct Docker API   ${mb(med(tpDocker))} MiB/s`);
    console.log(`  Sallyport console   ${mb(med(tpBroker))} MiB/s   (recorded to PostgreSQL)`);
    console.log(`  ratio               ${(med(tpBroker) / med(tpDocker)).toFixed(2)}x`);
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
