// The reattach benchmark's client, in its own process (bench/reattach.ts): opens one browser
// console over the broker's WebSocket as the web app does, then N times drops its socket without
// a close (a blip) and comes back with the console's key, timing each reattach to its `started`
// message and to the screen (the prompt) being back; and, as the baseline of the same run, N
// fresh consoles timed to their prompt. Prints one JSON line.
//   tsx bench/reattach-client.ts <url> <cookie> <origin> <target> <rounds>
import WebSocket from 'ws';
import { parseServerControl } from '../server/http/console-wire.js';
import { PROMPT } from '../test/support/console-client.js';

const [url, cookie, origin, target, roundsText] = process.argv.slice(2) as [string, string, string, string, string];
const rounds = Number(roundsText);

interface Socket {
  ws: WebSocket;
  started: Promise<Record<string, unknown>>;
  screen(re: RegExp): Promise<void>;
}

function connect(first: Record<string, unknown>): Socket {
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/api/consoles/${target}/connect`, { headers: { cookie }, origin });
  let out = '';
  const waiters: Array<() => void> = [];
  let startedResolve!: (m: Record<string, unknown>) => void;
  const started = new Promise<Record<string, unknown>>((r) => (startedResolve = r));
  ws.on('message', (raw: Buffer, isBinary) => {
    if (isBinary) {
      out = (out + raw.toString('latin1')).slice(-4096);
      for (const w of waiters.splice(0)) w();
      return;
    }
    const m = parseServerControl(raw.toString('utf8')) as Record<string, unknown> | null;
    if (m?.type === 'started' || m?.type === 'error') startedResolve(m);
  });
  ws.once('open', () => ws.send(JSON.stringify(first)));
  return {
    ws,
    started,
    screen: (re) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ${re} within 20 s`)), 20_000);
        const look = () => {
          if (re.test(out)) {
            clearTimeout(timer);
            resolve();
          } else waiters.push(look);
        };
        look();
      }),
  };
}

async function main() {
  const open: number[] = [];
  const started: number[] = [];
  const screen: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const t0 = performance.now();
    const s = connect({ type: 'open', cols: 80, rows: 24 });
    await s.screen(PROMPT);
    open.push(performance.now() - t0);
    s.ws.send(JSON.stringify({ type: 'end' }));
    await new Promise((r) => s.ws.once('close', r));
  }
  let s = connect({ type: 'open', cols: 80, rows: 24 });
  const first = await s.started;
  await s.screen(PROMPT);
  for (let i = 0; i < rounds; i++) {
    // A blip: gone without a close handshake. The page then takes its console back from the
    // socket the broker may not have seen go yet, as web/src/console.ts does.
    s.ws.terminate();
    const t0 = performance.now();
    s = connect({ type: 'reattach', sessionId: first.sessionId, key: first.reattachKey, takeover: true, cols: 80, rows: 24 });
    const m = await s.started;
    if (m.type !== 'started') throw new Error(`reattach refused: ${JSON.stringify(m)}`);
    started.push(performance.now() - t0);
    await s.screen(PROMPT);
    screen.push(performance.now() - t0);
  }
  s.ws.send(JSON.stringify({ type: 'end' }));
  process.stdout.write(`${JSON.stringify({ open, started, screen })}\n`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
