// One user flooding the broker must not cost anyone else, nor grow the broker without bound:
// input to a process that does not read it (backpressure to the client, never a buffer in the
// broker), thousands of resizes (coalesced: one engine call at a time), and tens of thousands
// of tiny frames (a per-socket message rate). The broker is a real `sallyport serve` process,
// so its memory is measured apart from the clients'; a bystander's keystroke echo is measured
// throughout. Figures are printed. The review's goal is p99 ≤ 50 ms and RSS ≤ +64 MiB; the bounds
// asserted here are what holds today (before the fixes: p99 944 ms and +1015 MiB under the input
// flood), and docs/performance.md tracks the gap.
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freePort } from '../server/dev/index.js';
import { Browser, startTestBroker, type TestBroker } from './support/broker.js';
import { connectConsole, PROMPT, type ConsoleConnection } from './support/console-client.js';
import { writeConsoleCatalog } from './support/console-catalog.js';
import { freshDatabase, type TestDatabase } from './support/postgres.js';
import { spawnCli, waitFor } from './support/process.js';
import { replicaEnv } from './support/replica.js';

let tdb: TestDatabase;
let h: TestBroker;
let child: ChildProcess;
let brokerStderr = '';
let stopping = false;
let url: string;
let cookie: string;

// Under the full suite (two test files at once on two cores) p99 varies 170–350 ms; 944 ms before.
const BYSTANDER_P99_MS = 800;
const RSS_GROWTH_MIB = 128;
const rssMiB = () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))![1]) / 1024;

beforeAll(async () => {
  const catalog = writeConsoleCatalog(inject('consoleImage'));
  tdb = await freshDatabase();
  h = await startTestBroker({ SALLYPORT_CATALOG: catalog, CONSOLE_GREETING: 'x' }, { database: tdb });
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  child = spawnCli(['serve'], replicaEnv(h, { port, databaseUrl: tdb.url, catalog }));
  // A broker that dies under a flood is a failure to see, with its last words.
  child.stderr!.on('data', (d) => (brokerStderr = (brokerStderr + d).slice(-4000)));
  child.once('exit', (code, signal) => {
    if (!stopping) console.error(`the flooded broker exited (${code ?? signal}):\n${brokerStderr}`);
  });
  await waitFor('broker ready', async () => ((await fetch(`${url}/readyz`).catch(() => null))?.status === 200 ? true : undefined), 40_000);
  const b = new Browser();
  await h.login(b, 'alice');
  cookie = `sallyport=${b.cookies(h.url).get('sallyport')}`;
});
afterAll(async () => {
  stopping = true;
  if (child && child.exitCode === null && child.signalCode === null) {
    const closed = new Promise((r) => child.once('close', r));
    child.kill('SIGTERM');
    await closed;
  }
  await h?.close();
  await tdb?.drop();
});

/** A bystander typing into `cat`: the time from a key to its echo, n times, one after another. */
async function echoTimes(c: ConsoleConnection, n: number, tag: string): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const key = `q${tag}${i}q`;
    const t0 = performance.now();
    c.type(key);
    await c.waitFor(new RegExp(key), 5000);
    times.push(performance.now() - t0);
    await new Promise((r) => setTimeout(r, 20));
  }
  return times;
}
const p99 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil(xs.length * 0.99) - 1)]!;

async function bystander(): Promise<ConsoleConnection> {
  const c = await connectConsole(url, 'shell', { cookie, origin: h.url });
  await c.waitFor(PROMPT);
  c.type('cat\n');
  await new Promise((r) => setTimeout(r, 300));
  return c;
}

describe('floods from one user', () => {
  it('input to a process that does not read it: backpressure reaches the client, the broker stays bounded, others keep working', async () => {
    const b = await bystander();
    const flooder = await connectConsole(url, 'shell', { cookie, origin: h.url });
    await flooder.waitFor(PROMPT);
    flooder.type('sleep 600\n');
    await new Promise((r) => setTimeout(r, 300));
    await echoTimes(b, 10, 'w'); // warm
    const baseline = rssMiB();
    const frame = 'x'.repeat(60 * 1024);
    for (let i = 0; i < 300; i++) flooder.type(frame);
    const during = await echoTimes(b, 60, 'a');
    const peak = rssMiB();
    console.log(`input flood (300 × 60 KiB to a process not reading): bystander echo p99 ${p99(during).toFixed(1)} ms; broker RSS ${baseline.toFixed(0)} → ${peak.toFixed(0)} MiB; ${(flooder.ws.bufferedAmount / 2 ** 20).toFixed(1)} MiB held back at the client`);
    expect(p99(during)).toBeLessThanOrEqual(BYSTANDER_P99_MS);
    expect(peak - baseline).toBeLessThanOrEqual(RSS_GROWTH_MIB);
    // The 18 MiB were not taken into the broker: most of it is still waiting at the client.
    expect(flooder.ws.bufferedAmount).toBeGreaterThan(8 * 2 ** 20);
    flooder.ws.terminate();
    b.ws.close();
    // Let the broker finish ending the flooder's console before the next measurement.
    await new Promise((r) => setTimeout(r, 2000));
  });

  it('thousands of resizes are coalesced, and tiny frames past the rate close only the flooder’s socket', async () => {
    const b = await bystander();
    const flooder = await connectConsole(url, 'shell', { cookie, origin: h.url });
    await flooder.waitFor(PROMPT);
    await echoTimes(b, 10, 'v');
    const baseline = rssMiB();
    for (let i = 0; i < 5000; i++) flooder.send({ type: 'resize', cols: 80 + (i % 40), rows: 24 + (i % 10) });
    const duringResizes = await echoTimes(b, 40, 'r');
    // The last size is the one that holds.
    flooder.send({ type: 'resize', cols: 133, rows: 41 });
    await new Promise((r) => setTimeout(r, 500));
    const closedBeforeTiny = flooder.messages.some((m) => m.type === 'exit');
    let i = 0;
    const tiny = setInterval(() => {
      for (let k = 0; k < 500 && i < 20000 && flooder.ws.readyState === flooder.ws.OPEN; k++, i++) flooder.type('y');
    }, 5);
    const duringTiny = await echoTimes(b, 40, 't');
    clearInterval(tiny);
    const closed = await flooder.closed;
    const peak = rssMiB();
    console.log(`resize flood (5000) and tiny-frame flood: bystander echo p99 ${p99(duringResizes).toFixed(1)} / ${p99(duringTiny).toFixed(1)} ms; broker RSS ${baseline.toFixed(0)} → ${peak.toFixed(0)} MiB; flooder closed: ${closed.reason}`);
    expect(closedBeforeTiny).toBe(false);
    expect(closed.code).toBe(1008);
    expect(closed.reason).toMatch(/too many messages/);
    expect(p99(duringResizes)).toBeLessThanOrEqual(BYSTANDER_P99_MS);
    expect(p99(duringTiny)).toBeLessThanOrEqual(BYSTANDER_P99_MS);
    expect(peak - baseline).toBeLessThanOrEqual(RSS_GROWTH_MIB);
    // The bystander is untouched.
    expect(b.messages.some((m) => m.type === 'exit')).toBe(false);
    b.ws.close();
  });
});
