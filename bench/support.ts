// Shared by the benchmarks: percentiles, and a migrated scratch database dropped afterwards.
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { migrate, openDatabase, type Database } from '../server/db/index.js';
import { MIGRATIONS_DIR, PACKAGE_ROOT } from '../server/paths.js';
import type { ConsoleSpec, RunningConsole } from '../server/runtime/index.js';
import { encodePrivateKeyFile, generateEd25519, signUserCertificate } from '../server/signing/index.js';
import { freePort } from '../server/dev/index.js';
import { Browser, startTestBroker } from '../test/support/broker.js';
import { writeConsoleCatalog } from '../test/support/console-catalog.js';
import { ADMIN_URL, databaseUrl } from '../test/support/pg-admin.js';
import { spawnCli, waitFor } from '../test/support/process.js';
import { replicaEnv } from '../test/support/replica.js';

export function stats(xs: number[]): { p50: number; p95: number } {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
  return { p50: q(0.5), p95: q(0.95) };
}

export async function withScratchDatabase<T>(fn: (db: Database) => Promise<T>): Promise<T> {
  const name = `sallyport_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`create database ${name}`);
  const db = openDatabase(databaseUrl(name), { poolSize: 4 });
  try {
    await migrate(db, MIGRATIONS_DIR);
    return await fn(db);
  } finally {
    await db.close();
    await admin.query(`drop database ${name} with (force)`);
    await admin.end();
  }
}

/** A migrated scratch database for a benchmark's broker (startTestBroker's `database`); drop() removes it. */
export async function scratchBrokerDatabase(): Promise<{ name: string; url: string; drop(): Promise<void> }> {
  const name = `sallyport_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`create database ${name}`);
  const url = databaseUrl(name);
  const mig = openDatabase(url, { poolSize: 1 });
  await migrate(mig, MIGRATIONS_DIR);
  await mig.close();
  return {
    name,
    url,
    async drop() {
      await admin.query(`drop database if exists ${name} with (force)`);
      await admin.end();
    },
  };
}

export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
}

/** Runs bench/terminal-client.ts in its own process: keystroke echo times and output throughput. */
/**
 * Runs bench/terminal-client.ts in its own process and returns its figures. `onStderr` sees what
 * the client's terminal printed to stderr (the SSH door's login link, say) as it arrives.
 */
export function terminalClient(args: string[], onStderr?: (text: string) => void): Promise<{ echo: number[]; bytesPerSecond: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(PACKAGE_ROOT, 'bench', 'terminal-client.ts'), ...args], { cwd: PACKAGE_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => child.kill(), 300_000);
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      err = (err + d.toString()).slice(-4000);
      onStderr?.(d.toString());
    });
    // Not 'close': an ssh the client started may hold the inherited stderr open after it exits.
    const ended = new Promise((r) => child.stdout.once('end', r));
    child.once('exit', (code) => {
      clearTimeout(timer);
      void ended.then(() => {
        if (code !== 0) return reject(new Error(`terminal client exited ${code}: ${err}`));
        resolve(JSON.parse(out.trim().split('\n').at(-1)!));
      });
    });
  });
}

/** A stock `ssh` with `argv` through the SSH door: `confirm` gets the login link's token as soon as the client prints it. */
export function doorClient(argv: string[], confirm: (token: string) => unknown): Promise<{ echo: number[]; bytesPerSecond: number }> {
  let confirmed = false;
  let seen = '';
  return terminalClient(['ssh', JSON.stringify(argv)], (text) => {
    seen += text;
    const m = /\/ssh\/([A-Za-z0-9_-]{32})/.exec(seen);
    if (m && !confirmed) {
      confirmed = true;
      // A refused confirmation shows as the client's timeout; say why rather than reject unheard.
      Promise.resolve(confirm(m[1]!)).catch((err: unknown) => console.error(`confirming the door's login failed: ${(err as Error).message}`));
    }
  });
}

/** Resolves once a direct baseline console's output shows `re` (its prompt); fails after `ms`. */
export function untilDirectOutput(c: RunningConsole, re: RegExp, ms = 60_000): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => {
      c.output.off('data', on);
      reject(new Error(`no ${re} from the direct console within ${ms} ms; last: ${JSON.stringify(seen)}`));
    }, ms);
    const on = (d: Buffer) => {
      seen = (seen + d.toString('latin1')).slice(-200);
      if (!re.test(seen)) return;
      clearTimeout(timer);
      c.output.off('data', on);
      resolve();
    };
    c.output.on('data', on);
  });
}

/** The direct baseline's console: the test image's shell, locked down as the broker would. */
export function benchConsoleSpec(image: string): ConsoleSpec {
  return {
    sessionId: randomUUID(),
    target: 'bench',
    username: 'bench',
    command: ['sh'],
    env: {},
    size: { cols: 80, rows: 24 },
    nodes: [],
    container: { image, user: '1000:1000', limits: { memoryBytes: 64 * 1024 ** 2, cpus: 1, pids: 32 }, network: 'none' },
  };
}

/**
 * BENCH_CPU_PROF=<file>: a V8 CPU profile of this process (where the benchmark's broker runs)
 * during Sallyport's rounds only, for bench/profile-summary.ts; start-up and the baselines'
 * rounds (and the broker's work after a round, such as keyframes) stay out of it.
 */
async function sallyportProfiler(file: string): Promise<{ start(): Promise<void>; stop(): Promise<void> }> {
  const { Session } = await import('node:inspector/promises');
  const { writeFileSync } = await import('node:fs');
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 200 });
  return {
    start: async () => void (await session.post('Profiler.start')),
    // Each round overwrites the file: the last (warmest) round's profile is what is kept.
    stop: async () => writeFileSync(file, JSON.stringify((await session.post('Profiler.stop')).profile)),
  };
}

type TerminalRun = () => Promise<{ echo: number[]; bytesPerSecond: number }>;

/**
 * Runs the baseline and Sallyport one after the other, `rounds` times, and prints echo p50/p99
 * and bulk output (median) with their ratios against the goals the issues name. `floors` are
 * further paths measured in the same rounds and printed with their ratio to the baseline: what
 * a path of that shape costs before Sallyport's own work (a bare relay in the middle, say).
 */
export async function compareTerminals(
  title: string,
  rounds: number,
  baseline: { name: string; run: TerminalRun },
  sallyport: { name: string; run: TerminalRun },
  floors: Array<{ name: string; run: TerminalRun }> = [],
): Promise<void> {
  const sides = [baseline, sallyport, ...floors].map((side) => ({ side, echo: [] as number[], tp: [] as number[] }));
  const profiler = process.env.BENCH_CPU_PROF ? await sallyportProfiler(process.env.BENCH_CPU_PROF) : undefined;
  for (let i = 0; i < rounds; i++) {
    for (const s of sides) {
      process.stderr.write(`round ${i + 1}: ${s.side.name}\n`);
      if (s.side === sallyport) await profiler?.start();
      const r = await s.side.run();
      if (s.side === sallyport) await profiler?.stop();
      s.echo.push(...r.echo);
      s.tp.push(r.bytesPerSecond);
    }
  }
  const [base, ours, ...rest] = sides as [(typeof sides)[0], (typeof sides)[0], ...typeof sides];
  const mib = (x: number) => (x / 1024 / 1024).toFixed(1);
  const ms = (x: number) => x.toFixed(2);
  const bytes = mib(Number(process.env.BENCH_BYTES ?? 16 * 1024 * 1024));
  console.log(`${title}, ${rounds} rounds, ${ours.echo.length / rounds} keys each`);
  for (const s of [ours, ...rest]) {
    const line = (what: string, pick: (x: typeof s) => number, fmt: (x: number) => string, unit: string, goal = '') =>
      console.log(`  ${what}: ${s.side.name} ${fmt(pick(s))} ${unit}, ${baseline.name} ${fmt(pick(base))} ${unit} — ${(pick(s) / pick(base)).toFixed(2)}x${s === ours ? goal : ''}`);
    line('keystroke echo p50', (x) => percentile(x.echo, 0.5), ms, 'ms', ' (goal ≤1.3x)');
    line('keystroke echo p99', (x) => percentile(x.echo, 0.99), ms, 'ms');
    line(`bulk output (${bytes} MiB)`, (x) => percentile(x.tp, 0.5), mib, 'MiB/s', ' (goal ≥0.8x)');
  }
}

/** A path to a shell, for comparePaths: a baseline has no `against`; any other is compared with each baseline it names. */
export interface BenchPath {
  name: string;
  run: TerminalRun;
  against?: string[];
}

/**
 * Every path measured in the same interleaved rounds (one after the other, `rounds` times), then
 * one table: echo p50/p99 and bulk output per path, and each path's ratio to every baseline it
 * names, so a path that regresses shows against the same run's floor.
 */
export async function comparePaths(title: string, rounds: number, paths: BenchPath[]): Promise<void> {
  const sides = paths.map((path) => ({ path, echo: [] as number[], tp: [] as number[] }));
  // BENCH_CPU_PROF=<file> with BENCH_PROFILE=<regex>: this process's profile (the broker's, when
  // it runs in it) during the rounds of the paths the regex matches.
  const profiled = process.env.BENCH_PROFILE ? new RegExp(process.env.BENCH_PROFILE) : undefined;
  const profiler = process.env.BENCH_CPU_PROF && profiled ? await sallyportProfiler(process.env.BENCH_CPU_PROF) : undefined;
  for (let i = 0; i < rounds; i++) {
    for (const s of sides) {
      process.stderr.write(`round ${i + 1}: ${s.path.name}\n`);
      const profiling = profiler && profiled!.test(s.path.name);
      if (profiling) await profiler.start();
      const r = await s.path.run();
      if (profiling) await profiler.stop();
      s.echo.push(...r.echo);
      s.tp.push(r.bytesPerSecond);
    }
  }
  const figures = new Map(sides.map((s) => [s.path.name, { p50: percentile(s.echo, 0.5), p99: percentile(s.echo, 0.99), out: percentile(s.tp, 0.5) / 1024 / 1024 }]));
  console.log(`${title}, ${rounds} rounds, ${sides[0]!.echo.length / rounds} keys and ${(Number(process.env.BENCH_BYTES ?? 16 * 1024 * 1024) / 1024 / 1024).toFixed(0)} MiB each`);
  console.log('| path | echo p50 | echo p99 | output | against | p50 × | p99 × | output × |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const s of sides) {
    const f = figures.get(s.path.name)!;
    const own = `| ${s.path.name} | ${f.p50.toFixed(2)} ms | ${f.p99.toFixed(2)} ms | ${f.out.toFixed(1)} MiB/s`;
    if (!s.path.against?.length) console.log(`${own} | (baseline) | | | |`);
    for (const [i, b] of (s.path.against ?? []).entries()) {
      const base = figures.get(b)!;
      console.log(`${i === 0 ? own : '| | | |'} | ${b} | ${(f.p50 / base.p50).toFixed(2)} | ${(f.p99 / base.p99).toFixed(2)} | ${(f.out / base.out).toFixed(2)} |`);
    }
  }
}

/**
 * A real `sallyport serve` process for a load benchmark, alone on a scratch database with the test
 * catalogue: the in-process harness serves alice's login and is closed (only its IdP stays), so
 * the broker measured is the only one. `nodeArgs` go on node's command line (`--cpu-prof` is
 * refused in NODE_OPTIONS). The process's exit before stop() is reported with its last words.
 */
export async function startServeAlone(
  image: string,
  extraEnv: Record<string, string>,
  nodeArgs: string[] = [],
): Promise<{ url: string; origin: string; cookie: string; pid: number; databaseUrl: string; lastWords(): string; stop(): Promise<void> }> {
  const database = await scratchBrokerDatabase();
  const catalog = writeConsoleCatalog(image);
  const h = await startTestBroker({ SALLYPORT_CATALOG: catalog, CONSOLE_GREETING: 'x' }, { database: { ...database, drop: async () => {} } });
  const b = new Browser();
  await h.login(b, 'alice');
  const cookie = `sallyport=${b.cookies(h.url).get('sallyport')}`;
  await h.broker.close();
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const broker = spawnCli(['serve'], replicaEnv(h, { port, databaseUrl: database.url, catalog }, extraEnv), nodeArgs);
  let words = '';
  broker.stderr!.on('data', (d) => (words = (words + d).slice(-4000)));
  broker.stdout!.on('data', (d) => (words = (words + d).slice(-4000)));
  let stopping = false;
  broker.once('exit', (code, signal) => {
    if (!stopping) console.error(`the broker measured exited (${code ?? signal}):\n${words}`);
  });
  const stop = async () => {
    stopping = true;
    if (broker.exitCode === null && broker.signalCode === null) {
      const closed = new Promise((r) => broker.once('close', r));
      broker.kill('SIGTERM');
      await closed;
    }
    await h.idp.close();
    await database.drop();
  };
  try {
    await waitFor('the broker ready', async () => ((await fetch(`${url}/readyz`).catch(() => null))?.status === 200 ? true : undefined), 40_000);
  } catch (err) {
    await stop();
    throw err;
  }
  // The Origin is the public URL the broker was configured with (the harness's).
  return { url, origin: h.url, cookie, pid: broker.pid!, databaseUrl: database.url, lastWords: () => words, stop };
}

/**
 * A stock OpenSSH client's login to a fleet node as the broker makes it: a fresh key and a
 * one-minute certificate from the CA for the node's login, valid from the broker's address. The
 * ssh arguments that use them (files under `dir`).
 */
export function certificateLogin(dir: string, ca: Parameters<typeof signUserCertificate>[0], node: { brokerAddress: string }, login: string): string[] {
  const key = generateEd25519();
  const base = join(dir, `k${Date.now()}-${randomBytes(2).toString('hex')}`);
  writeFileSync(base, encodePrivateKeyFile(key, 'bench'), { mode: 0o600 });
  const now = Date.now();
  const cert = signUserCertificate(ca, { publicKey: key.publicKey, serial: BigInt(now), keyId: 'bench direct', principals: [login], validAfter: new Date(now - 30_000), validBefore: new Date(now + 60_000), sourceAddresses: [node.brokerAddress], extensions: ['permit-pty'] });
  writeFileSync(`${base}-cert.pub`, `${cert.line}\n`);
  return ['-i', base, '-o', `CertificateFile=${base}-cert.pub`, '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes'];
}

/** bench/ws-ssh-bridge.ts in its own process, listening on 127.0.0.1: the floor of a browser console on a node. */
export async function startWsSshBridge(caText: string, node: { address: string; hostKey: string }, login: string): Promise<{ url: string; stop(): void }> {
  const port = await freePort();
  const nodeJson = JSON.stringify({ name: 'app-1', address: node.address, port: 22, hostKey: node.hostKey, login });
  const child = spawn(process.execPath, ['--import', 'tsx', join(PACKAGE_ROOT, 'bench', 'ws-ssh-bridge.ts'), String(port), nodeJson], {
    cwd: PACKAGE_ROOT,
    env: { ...process.env, SALLYPORT_SSH_CA_KEY: caText },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
  return { url: `http://127.0.0.1:${port}`, stop: () => child.kill() };
}
