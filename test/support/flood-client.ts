// A flooding user, in a process of their own (test/console-floods.test.ts): an attacker is on
// another machine, and a flood sent from the test's own process would stall the bystander's
// measurement there rather than in the broker. Opens one console and takes orders as JSON
// lines on stdin, answering with JSON lines on stdout.
//   tsx test/support/flood-client.ts <broker url> <cookie> <origin>
import { createInterface } from 'node:readline';
import { connectConsole, PROMPT } from './console-client.js';

export type FloodOrder =
  | { op: 'type'; text: string }
  /** `frames` input frames of `bytes` characters each, all at once; answered with `sent`. */
  | { op: 'input'; frames: number; bytes: number }
  /** Answered with `sent`. */
  | { op: 'resizes'; n: number }
  | { op: 'resize'; cols: number; rows: number }
  /** `n` one-key frames, 500 every 5 ms, while the socket is open. */
  | { op: 'tiny'; n: number }
  /** Answered with `seen` once the output shows `pattern` (a regular expression's source). */
  | { op: 'see'; pattern: string; ms: number }
  | { op: 'report' }
  | { op: 'terminate' };

export type FloodReport =
  | { ev: 'ready' }
  /** The input flood is handed to the socket (framed and masked; the rest is the network's). */
  | { ev: 'sent' }
  | { ev: 'report'; bufferedAmount: number; exited: boolean; open: boolean }
  | { ev: 'seen' }
  | { ev: 'closed'; code: number; reason: string }
  | { ev: 'failed'; why: string };

const [url, cookie, origin] = process.argv.slice(2) as [string, string, string];
const say = (r: FloodReport) => process.stdout.write(`${JSON.stringify(r)}\n`);

try {
  const c = await connectConsole(url, 'shell', { cookie, origin });
  void c.closed.then((closed) => say({ ev: 'closed', ...closed }));
  await c.waitFor(PROMPT, 20_000);
  say({ ev: 'ready' });
  for await (const line of createInterface({ input: process.stdin })) {
    const o = JSON.parse(line) as FloodOrder;
    if (o.op === 'type') c.type(o.text);
    else if (o.op === 'input') {
      const frame = 'x'.repeat(o.bytes);
      for (let i = 0; i < o.frames; i++) c.type(frame);
      say({ ev: 'sent' });
    } else if (o.op === 'resizes') {
      for (let i = 0; i < o.n; i++) c.send({ type: 'resize', cols: 80 + (i % 40), rows: 24 + (i % 10) });
      say({ ev: 'sent' });
    } else if (o.op === 'resize') c.send({ type: 'resize', cols: o.cols, rows: o.rows });
    else if (o.op === 'tiny') {
      let i = 0;
      const tick = setInterval(() => {
        for (let k = 0; k < 500 && i < o.n && c.ws.readyState === c.ws.OPEN; k++, i++) c.type('y');
        if (i >= o.n || c.ws.readyState !== c.ws.OPEN) clearInterval(tick);
      }, 5);
    } else if (o.op === 'see') {
      c.waitFor(new RegExp(o.pattern, 'm'), o.ms).then(
        () => say({ ev: 'seen' }),
        (err: unknown) => say({ ev: 'failed', why: String(err) }),
      );
    } else if (o.op === 'report') say({ ev: 'report', bufferedAmount: c.ws.bufferedAmount, exited: c.messages.some((m) => m.type === 'exit'), open: c.ws.readyState === c.ws.OPEN });
    else if (o.op === 'terminate') {
      c.ws.terminate();
      break;
    }
  }
} catch (err) {
  say({ ev: 'failed', why: String(err) });
  process.exitCode = 1;
}
