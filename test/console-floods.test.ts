// One user flooding the broker must not cost anyone else, nor grow the broker without bound:
// input to a process that does not read it (backpressure to the client, never a buffer in the
// broker), thousands of resizes (coalesced: one engine call at a time), and tens of thousands
// of tiny frames (a per-socket message rate). The broker is a real `sallyport serve` process and
// the flooder a client process of its own (as an attacker is on another machine), so the
// broker's memory is measured apart from the clients' and the flood's sending does not stall
// the bystander's own measurement; a bystander's keystroke echo is measured throughout, at the
// review's goals: p99 at most 50 ms over the unflooded console's, RSS ≤ +64 MiB. This file runs after the rest of the suite, alone
// (vitest.config.ts): the figure is the broker's, not a second test file's share of two cores.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { PACKAGE_ROOT } from '../server/paths.js';
import { Browser, type TestBroker } from './support/broker.js';
import { connectConsole, PROMPT, type ConsoleConnection } from './support/console-client.js';
import type { FloodOrder, FloodReport } from './support/flood-client.js';
import { startServeBeside } from './support/replica.js';

let h: TestBroker;
let child: ChildProcess;
let stopping = false;
let url: string;
let cookie: string;
let stop: () => Promise<void>;

// The review's goals (before the fixes: p99 944 ms and +1015 MiB under the input flood). The echo
// budget is what a flood may add to the bystander's p99 over the same console, unflooded, just
// before, in the same run: idle, that baseline is 2–5 ms; on a machine that is busy anyway (two
// busy loops beside the suite) it is what the machine gives, and the flood is still held to 50 ms.
const BYSTANDER_P99_MS = 50;
const RSS_GROWTH_MIB = 64;
// The one key typed as the flood starts shares the two cores with the flooder's own sending
// (seen up to 86 ms); a stall users would notice is far above this.
const BYSTANDER_MAX_MS = 300;
const flooders: ChildProcess[] = [];
const rssMiB = () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))![1]) / 1024;
/** The broker's highest RSS from now until stop(), looked at every 100 ms. */
function rssPeak(): { stop(): number } {
  let peak = rssMiB();
  const timer = setInterval(() => {
    // A broker gone mid-flood is the test's failure to report, not an error in this timer.
    if (child.exitCode === null && child.signalCode === null) peak = Math.max(peak, rssMiB());
  }, 100);
  return { stop: () => (clearInterval(timer), Math.max(peak, rssMiB())) };
}

beforeAll(async () => {
  const started = await startServeBeside(inject('consoleImage'));
  ({ h, child, url, stop } = started);
  // A broker that dies under a flood is a failure to see, with its last words.
  child.once('exit', (code, signal) => {
    if (!stopping) console.error(`the flooded broker exited (${code ?? signal}):\n${started.stderrTail()}`);
  });
  const b = new Browser();
  await h.login(b, 'alice');
  cookie = `sallyport=${b.cookies(h.url).get('sallyport')}`;
});
afterAll(async () => {
  stopping = true;
  for (const f of flooders) f.kill();
  await stop?.();
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

/** The flooding user's console, driven from a process of its own (test/support/flood-client.ts). */
async function flooder() {
  const proc = spawn(process.execPath, ['--import', 'tsx', join(PACKAGE_ROOT, 'test', 'support', 'flood-client.ts'), url, cookie, h.url], {
    cwd: PACKAGE_ROOT,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  flooders.push(proc);
  const reports: FloodReport[] = [];
  const waiting = new Set<() => void>();
  createInterface({ input: proc.stdout! }).on('line', (line) => {
    reports.push(JSON.parse(line) as FloodReport);
    for (const w of waiting) w();
  });
  const next = <E extends FloodReport['ev']>(ev: E, ms = 30_000) =>
    new Promise<Extract<FloodReport, { ev: E }>>((resolve, reject) => {
      const check = () => {
        const failed = reports.find((r) => r.ev === 'failed');
        if (failed) return reject(new Error(`flood client: ${JSON.stringify(failed)}`));
        const i = reports.findIndex((r) => r.ev === ev);
        if (i < 0) return;
        waiting.delete(check);
        clearTimeout(timer);
        resolve(reports.splice(i, 1)[0] as Extract<FloodReport, { ev: E }>);
      };
      const timer = setTimeout(() => {
        waiting.delete(check);
        reject(new Error(`flood client did not report ${ev}: ${JSON.stringify(reports)}`));
      }, ms);
      waiting.add(check);
      check();
    });
  const order = (o: FloodOrder) => proc.stdin!.write(`${JSON.stringify(o)}\n`);
  await next('ready');
  return { order, next };
}

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
    const f = await flooder();
    f.order({ op: 'type', text: 'sleep 600\n' });
    await new Promise((r) => setTimeout(r, 300));
    await echoTimes(b, 10, 'w'); // warm
    const quiet = p99(await echoTimes(b, 100, 'n'));
    const baseline = rssMiB();
    const peak = rssPeak();
    f.order({ op: 'input', frames: 300, bytes: 60 * 1024 });
    // From when the flooder's process has framed it all: on this 2-core machine the flooder's own
    // CPU would otherwise be in the figure, and an attacker's client is not on the broker's host.
    await f.next('sent');
    // 200 keys, about 5 s: the flood stays outstanding (held back at the client) throughout.
    const during = await echoTimes(b, 200, 'a');
    const peakMiB = peak.stop();
    f.order({ op: 'report' });
    const { bufferedAmount } = await f.next('report');
    console.log(`input flood (300 × 60 KiB to a process not reading): bystander echo p99 ${p99(during).toFixed(1)} ms (unflooded ${quiet.toFixed(1)}; max ${Math.max(...during).toFixed(1)}); broker RSS ${baseline.toFixed(0)} → peak ${peakMiB.toFixed(0)} MiB; ${(bufferedAmount / 2 ** 20).toFixed(1)} MiB held back at the client`);
    expect(p99(during) - quiet).toBeLessThanOrEqual(BYSTANDER_P99_MS);
    expect(Math.max(...during)).toBeLessThanOrEqual(BYSTANDER_MAX_MS);
    expect(peakMiB - baseline).toBeLessThanOrEqual(RSS_GROWTH_MIB);
    // The 18 MiB were not taken into the broker: most of it is still waiting at the client.
    expect(bufferedAmount).toBeGreaterThan(8 * 2 ** 20);
    f.order({ op: 'terminate' });
    b.ws.close();
    // Let the broker finish ending the flooder's console before the next measurement.
    await new Promise((r) => setTimeout(r, 2000));
  });

  it('hundreds of resizes at once are coalesced (the last one holds), and tiny frames past the rate close only the flooder’s socket', async () => {
    const b = await bystander();
    const f = await flooder();
    await echoTimes(b, 10, 'v');
    const quiet = p99(await echoTimes(b, 100, 'n'));
    const baseline = rssMiB();
    const peak = rssPeak();
    // Within the socket's message burst (500), so what holds them is coalescing alone.
    f.order({ op: 'resizes', n: 480 });
    await f.next('sent');
    const duringResizes = await echoTimes(b, 100, 'r');
    // The last size is the one that holds.
    f.order({ op: 'resize', cols: 133, rows: 41 });
    await new Promise((r) => setTimeout(r, 500));
    f.order({ op: 'type', text: 'stty size\n' });
    f.order({ op: 'see', pattern: '^41 133\\s*$', ms: 5000 });
    await f.next('seen');
    f.order({ op: 'report' });
    const beforeTiny = await f.next('report');
    f.order({ op: 'tiny', n: 20_000 });
    // 100 keys, as for the resizes: with 40, the p99 was the run's single slowest key.
    const duringTiny = await echoTimes(b, 100, 't');
    const closed = await f.next('closed');
    const peakMiB = peak.stop();
    console.log(`resize flood (480) and tiny-frame flood: bystander echo p99 ${p99(duringResizes).toFixed(1)} / ${p99(duringTiny).toFixed(1)} ms (unflooded ${quiet.toFixed(1)}; max ${Math.max(...duringResizes).toFixed(1)} / ${Math.max(...duringTiny).toFixed(1)}); broker RSS ${baseline.toFixed(0)} → peak ${peakMiB.toFixed(0)} MiB; flooder closed: ${closed.reason}`);
    expect(beforeTiny).toMatchObject({ exited: false, open: true });
    expect(closed.code).toBe(1008);
    expect(closed.reason).toMatch(/too many messages/);
    expect(p99(duringResizes) - quiet).toBeLessThanOrEqual(BYSTANDER_P99_MS);
    expect(p99(duringTiny) - quiet).toBeLessThanOrEqual(BYSTANDER_P99_MS);
    expect(peakMiB - baseline).toBeLessThanOrEqual(RSS_GROWTH_MIB);
    // The bystander is untouched.
    expect(b.messages.some((m) => m.type === 'exit')).toBe(false);
    b.ws.close();
  });
});
