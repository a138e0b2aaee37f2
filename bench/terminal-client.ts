// The benchmark's terminal client, in its own process (so its work is not the broker's): drives
// one shell, through the broker's console WebSocket or a stock OpenSSH client, and prints
// keystroke echo times and bulk output throughput as one JSON line.
//   tsx bench/terminal-client.ts broker <url> <cookie> <target>
//   tsx bench/terminal-client.ts ssh <ssh argv as JSON>
//   tsx bench/terminal-client.ts docker <image>   (the same hardened container over the Engine API)
import { spawn } from 'node:child_process';
import WebSocket from 'ws';
import { encodeInput } from '../server/http/console-wire.js';
import { createDockerRuntime } from '../server/runtime/index.js';
import { benchConsoleSpec } from './support.js';

const KEYS = Number(process.env.BENCH_KEYS ?? 200);
const BYTES = Number(process.env.BENCH_BYTES ?? 16 * 1024 * 1024);
// base64 of zeros: 4/3 of the input, in 77-byte lines.
const OUTPUT_CMD = `head -c ${(BYTES * 3) / 4} /dev/zero | base64 -w 76; echo "DO""NE"\n`;

interface Terminal {
  write(data: string): void;
  onData(fn: (text: string) => void): void;
  close(): void;
}

function viaBroker(url: string, cookie: string, target: string): Promise<Terminal> {
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/api/consoles/${target}/connect`, { headers: { cookie }, origin: url });
  const listeners: Array<(t: string) => void> = [];
  // Output arrives as binary frames (the shared wire protocol); control messages are ignored here.
  ws.on('message', (raw: Buffer, isBinary) => {
    if (isBinary) for (const l of listeners) l(raw.toString('latin1'));
  });
  return new Promise((resolve, reject) => {
    ws.once('error', reject);
    ws.once('open', () => {
      ws.send(JSON.stringify({ type: 'open', cols: 80, rows: 24 }));
      resolve({
        write: (data) => {
          for (const f of encodeInput(data)) ws.send(f, { binary: true });
        },
        onData: (fn) => listeners.push(fn),
        close: () => ws.close(),
      });
    });
  });
}

function viaSsh(argv: string[]): Terminal {
  // stderr passes through: the SSH door's login link is there, for the bench to confirm.
  const child = spawn('ssh', argv, { stdio: ['pipe', 'pipe', 'inherit'] });
  return {
    write: (data) => child.stdin.write(data),
    onData: (fn) => child.stdout.on('data', (d: Buffer) => fn(d.toString('latin1'))),
    close: () => child.kill(),
  };
}

/** Create, attach, start over the Engine API (what `docker run -it` does), with the broker's hardening. */
async function viaDocker(image: string): Promise<Terminal> {
  const c = await createDockerRuntime({}).start(benchConsoleSpec(image), `bench-direct-${process.pid}`);
  return {
    write: (data) => c.input.write(data),
    onData: (fn) => c.output.on('data', (d: Buffer) => fn(d.toString('latin1'))),
    close: () => void c.destroy(),
  };
}

async function main() {
  const [via, ...rest] = process.argv.slice(2);
  const term =
    via === 'broker' ? await viaBroker(rest[0]!, rest[1]!, rest[2]!) : via === 'docker' ? await viaDocker(rest[0]!) : viaSsh(JSON.parse(rest[0]!) as string[]);
  let tail = '';
  let waiter: { test: (tail: string) => boolean; resolve: () => void } | undefined;
  let bytes = 0;
  term.onData((text) => {
    bytes += text.length;
    // A small tail window: matching never costs more as the output grows.
    tail = (tail + text).slice(-256);
    if (waiter?.test(tail)) {
      const w = waiter;
      waiter = undefined;
      w.resolve();
    }
  });
  const until = (test: (tail: string) => boolean, ms = 30_000) =>
    new Promise<void>((resolve, reject) => {
      if (test(tail)) return resolve();
      const timer = setTimeout(() => reject(new Error(`timed out; tail: ${JSON.stringify(tail)}`)), ms);
      waiter = { test, resolve: () => (clearTimeout(timer), resolve()) };
    });
  // busybox's prompt may end with a cursor-position query, or (unanswered) its redraw and erase.
  await until((t) => /\$ (\x1b\[(6n|J))?$/.test(t), 60_000);
  const echo: number[] = [];
  for (let i = 0; i < KEYS; i++) {
    const key = String.fromCharCode(97 + (i % 26));
    tail = '';
    const t0 = performance.now();
    term.write(key);
    await until((t) => t.includes(key));
    echo.push(performance.now() - t0);
    // Clear the line now and then so it never wraps.
    if (i % 26 === 25) {
      term.write('\x15');
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  term.write('\x15');
  await new Promise((r) => setTimeout(r, 100));
  tail = '';
  const t0 = performance.now();
  const before = bytes;
  term.write(OUTPUT_CMD);
  await until((t) => /^DONE\r?$/m.test(t), 120_000);
  const seconds = (performance.now() - t0) / 1000;
  term.write('exit\n');
  await new Promise((r) => setTimeout(r, 200));
  term.close();
  await new Promise((r) => setTimeout(r, 500));
  process.stdout.write(`${JSON.stringify({ echo, bytesPerSecond: (bytes - before) / seconds })}\n`);
  process.exit(0);
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
