// The load benchmark's client (bench/load.ts), in its own process: holds many browser consoles
// over the broker's WebSocket, as the web app does, and takes orders as JSON lines on stdin,
// answering with JSON lines on stdout. It keeps no output: each console's bytes go into a
// running SHA-256 (for the byte-compare with its recording) and a short tail (for prompts).
//   tsx bench/load-client.ts <broker url> <cookie> <origin>
//   tsx bench/load-client.ts direct   (the baseline: each console a container of the order's
//                                      image, driven straight over the Engine API, same hardening)
import { createHash, type Hash } from 'node:crypto';
import { createInterface } from 'node:readline';
import WebSocket from 'ws';
import { encodeInput, parseServerControl } from '../server/http/console-wire.js';
import { createDockerRuntime, type RunningConsole } from '../server/runtime/index.js';
import { PROMPT } from '../test/support/console-client.js';
import { benchConsoleSpec } from './support.js';

const [url, cookie, origin] = process.argv.slice(2) as [string, string, string];

export type Order =
  | { op: 'open'; ids: string[]; target: string }
  | { op: 'type'; ids: string[]; text: string }
  | { op: 'echo'; id: string; keys: number }
  | { op: 'see'; id: string; text: string; ms: number }
  | { op: 'close'; ids: string[] };

export type Report =
  | { ev: 'opened'; id: string; ms: number; sessionId: string }
  | { ev: 'refused'; id: string; why: string }
  | { ev: 'echo'; id: string; times: number[] }
  | { ev: 'seen'; id: string; at: number }
  | { ev: 'closed'; id: string; sessionId: string; bytes: number; sha256: string; reason: string }
  | { ev: 'failed'; id: string; why: string };

interface Console {
  /** Sends typed text; isOpen says whether the console still takes it. */
  write(text: string): void;
  isOpen(): boolean;
  terminate(): void;
  sessionId?: string;
  hash: Hash;
  bytes: number;
  tail: string;
  /** Called on every output frame until it returns true. */
  watch?: () => boolean;
  exitReason?: string;
  closed: Promise<void>;
}

const consoles = new Map<string, Console>();
const report = (r: Report) => process.stdout.write(`${JSON.stringify(r)}\n`);

function until(c: Console, test: () => boolean, ms: number): Promise<boolean> {
  if (test()) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      c.watch = undefined;
      resolve(false);
    }, ms);
    c.watch = () => {
      if (!test()) return false;
      clearTimeout(timer);
      c.watch = undefined;
      resolve(true);
      return true;
    };
  });
}

/** What a console's output does on arrival: hashed, counted, its tail kept for prompts. */
function received(c: Console, raw: Buffer): void {
  c.hash.update(raw);
  c.bytes += raw.length;
  c.tail = (c.tail + raw.toString('latin1')).slice(-256);
  c.watch?.();
}

/** The baseline's console: a container of `image`, as the broker would start it, straight over the Engine API. */
async function openDirect(id: string, image: string): Promise<void> {
  const t0 = performance.now();
  let running: RunningConsole;
  try {
    // The limits of the broker's `shell` target (test/support/console-catalog.ts): the same containers.
    const spec = benchConsoleSpec(image);
    spec.container!.limits.cpus = 0.5;
    running = await createDockerRuntime({}).start(spec, `bench-load-${process.pid}`);
  } catch (err) {
    report({ ev: 'refused', id, why: (err as Error).message });
    return;
  }
  let open = true;
  const c: Console = {
    write: (text) => void running.input.write(text),
    isOpen: () => open,
    terminate: () => void running.destroy(),
    hash: createHash('sha256'),
    bytes: 0,
    tail: '',
    closed: running.exited.then(() => {
      open = false;
      c.watch?.();
      void running.destroy();
    }),
  };
  consoles.set(id, c);
  running.output.on('data', (d: Buffer) => received(c, d));
  if (await until(c, () => PROMPT.test(c.tail), 60_000)) report({ ev: 'opened', id, ms: performance.now() - t0, sessionId: id });
  else report({ ev: 'refused', id, why: 'no prompt within 60 s' });
}

async function open(id: string, target: string): Promise<void> {
  if (url === 'direct') return openDirect(id, target);
  const t0 = performance.now();
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/api/consoles/${target}/connect`, { headers: { cookie }, origin });
  ws.binaryType = 'nodebuffer';
  let closedResolve!: () => void;
  const c: Console = {
    write: (text) => {
      for (const f of encodeInput(text)) ws.send(f, { binary: true });
    },
    isOpen: () => ws.readyState === WebSocket.OPEN,
    terminate: () => ws.terminate(),
    hash: createHash('sha256'),
    bytes: 0,
    tail: '',
    closed: new Promise((r) => (closedResolve = r)),
  };
  consoles.set(id, c);
  let refusal = '';
  ws.on('message', (raw: Buffer, isBinary) => {
    if (isBinary) {
      received(c, raw);
      return;
    }
    const m = parseServerControl(raw.toString('utf8'));
    if (!m) return;
    if (m.type === 'started') c.sessionId = m.sessionId;
    else if (m.type === 'error') refusal = `${m.code}: ${m.message}`;
    else if (m.type === 'exit') c.exitReason = m.reason;
  });
  ws.on('error', (err) => (refusal ||= err.message));
  ws.on('close', (code, reason) => {
    refusal ||= `closed ${code} ${reason.toString()}`;
    closedResolve();
    c.watch?.();
  });
  await new Promise<void>((resolve) => {
    ws.once('open', () => resolve());
    ws.once('close', () => resolve());
  });
  if (ws.readyState !== WebSocket.OPEN) {
    report({ ev: 'refused', id, why: refusal });
    return;
  }
  ws.send(JSON.stringify({ type: 'open', cols: 80, rows: 24 }));
  const ok = await until(c, () => PROMPT.test(c.tail) || ws.readyState !== WebSocket.OPEN, 60_000);
  if (!ok || ws.readyState !== WebSocket.OPEN || !c.sessionId) report({ ev: 'refused', id, why: refusal || 'no prompt within 60 s' });
  else report({ ev: 'opened', id, ms: performance.now() - t0, sessionId: c.sessionId });
}

function type(c: Console, text: string): void {
  c.write(text);
}

/** One key at a time at the prompt, each timed to its echo; the line cleared now and then. */
async function echo(id: string, keys: number): Promise<void> {
  const c = consoles.get(id)!;
  const times: number[] = [];
  for (let i = 0; i < keys; i++) {
    const key = String.fromCharCode(97 + (i % 26));
    c.tail = '';
    const t0 = performance.now();
    type(c, key);
    if (!(await until(c, () => c.tail.includes(key), 10_000))) {
      report({ ev: 'failed', id, why: `no echo of key ${i} within 10 s` });
      return;
    }
    times.push(performance.now() - t0);
    if (i % 26 === 25) type(c, '\x15');
    // A person types a few keys a second, not back to back.
    await new Promise((r) => setTimeout(r, 20));
  }
  type(c, '\x15');
  report({ ev: 'echo', id, times });
}

async function see(id: string, text: string, ms: number): Promise<void> {
  const c = consoles.get(id)!;
  if (await until(c, () => c.tail.includes(text), ms)) report({ ev: 'seen', id, at: Date.now() });
  else report({ ev: 'failed', id, why: `"${text}" not on screen within ${ms} ms` });
}

/** Interrupts what runs, exits the shell, and reports what the console's client received. */
async function close(id: string): Promise<void> {
  const c = consoles.get(id)!;
  if (c.isOpen()) {
    type(c, '\x03');
    await new Promise((r) => setTimeout(r, 300));
    type(c, '\x03exit\n');
  }
  const gone = await Promise.race([c.closed.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 30_000))]);
  if (!gone) {
    c.terminate();
    report({ ev: 'failed', id, why: 'did not end within 30 s of exit' });
    return;
  }
  consoles.delete(id);
  report({ ev: 'closed', id, sessionId: c.sessionId ?? '', bytes: c.bytes, sha256: c.hash.digest('hex'), reason: c.exitReason ?? '' });
}

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  const o = JSON.parse(line) as Order;
  const run = (): Promise<unknown> => {
    switch (o.op) {
      case 'open':
        return Promise.all(o.ids.map((id) => open(id, o.target)));
      case 'type':
        for (const id of o.ids) type(consoles.get(id)!, o.text);
        return Promise.resolve();
      case 'echo':
        return echo(o.id, o.keys);
      case 'see':
        return see(o.id, o.text, o.ms);
      case 'close':
        return Promise.all(o.ids.map((id) => close(id)));
    }
  };
  run().catch((err: unknown) => report({ ev: 'failed', id: '', why: (err as Error).message }));
});
lines.on('close', () => process.exit(0));
