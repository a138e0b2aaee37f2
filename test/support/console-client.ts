// A WebSocket console client for tests, speaking the same protocol as the browser app (the
// shared server/http/console-wire.ts): output arrives as binary frames, control as JSON.
import WebSocket from 'ws';
import { encodeInput, parseServerControl } from '../../server/http/console-wire.js';

/** busybox's prompt; it may end with a cursor-position query (ESC[6n) and, after a resize
 * redraw, an erase (ESC[J). */
export const PROMPT = /\$ (\x1b\[(6n|J))*$/;

export interface ConsoleConnection {
  ws: WebSocket;
  /** Everything received as output, concatenated, as the terminal would render it. */
  output(): string;
  /** Every output frame's bytes, as received (to compare with the recording byte for byte). */
  outputBytes(): Buffer;
  /** The control messages received, in order. */
  messages: Array<Record<string, unknown>>;
  /** The console session id from the broker's `started` message. */
  sessionId(): string;
  waitFor(pattern: RegExp, ms?: number): Promise<string>;
  closed: Promise<{ code: number; reason: string }>;
  /** Sends a control message (an object as JSON; a string as it is) in a text frame. */
  send(msg: unknown): void;
  /** Types text: binary frames, split as the browser splits a paste. */
  type(text: string): void;
}

export function connectConsole(
  url: string,
  target: string,
  options: { cookie?: string; origin?: string; open?: { cols: number; rows: number } | false; grant?: string } = {},
): Promise<ConsoleConnection> {
  return connect(url, `/api/consoles/${target}/connect${options.grant ? `?grant=${options.grant}` : ''}`, options);
}

/** An admin's read-only view of a live session (the Live page's Watch). */
export function watchConsole(url: string, sessionId: string, options: { cookie?: string; origin?: string } = {}): Promise<ConsoleConnection> {
  return connect(url, `/api/sessions/${sessionId}/watch`, { ...options, open: false });
}

function connect(
  url: string,
  path: string,
  options: { cookie?: string; origin?: string; open?: { cols: number; rows: number } | false },
): Promise<ConsoleConnection> {
  const wsUrl = `${url.replace(/^http/, 'ws')}${path}`;
  const headers: Record<string, string> = {};
  if (options.cookie) headers.cookie = options.cookie;
  const ws = new WebSocket(wsUrl, { headers, origin: options.origin ?? url });
  const messages: Array<Record<string, unknown>> = [];
  let out = '';
  const frames: Buffer[] = [];
  // Output may split a character across frames, as a terminal's input may: decode as a stream.
  const decoder = new TextDecoder();
  const listeners = new Set<() => void>();
  ws.on('message', (raw: Buffer, isBinary) => {
    if (isBinary) {
      frames.push(raw);
      out += decoder.decode(raw, { stream: true });
    } else {
      const m = parseServerControl(raw.toString());
      if (!m) throw new Error(`not a control message: ${raw.toString().slice(0, 200)}`);
      messages.push(m as unknown as Record<string, unknown>);
    }
    for (const l of listeners) l();
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  return new Promise((resolve, reject) => {
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
    ws.once('error', reject);
    ws.once('open', () => {
      if (options.open !== false) ws.send(JSON.stringify({ type: 'open', ...(options.open ?? { cols: 80, rows: 24 }) }));
      resolve({
        ws,
        messages,
        sessionId: () => {
          const started = messages.find((m) => m.type === 'started');
          if (!started) throw new Error(`no started message: ${JSON.stringify(messages)}`);
          return started.sessionId as string;
        },
        output: () => out,
        outputBytes: () => Buffer.concat(frames),
        closed,
        send: (msg) => ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg)),
        type: (text) => {
          for (const f of encodeInput(text)) ws.send(f, { binary: true });
        },
        waitFor(pattern, ms = 5000) {
          return new Promise((res, rej) => {
            // Only look at what arrived since the last look (plus some overlap), so waiting on
            // a large output stays linear.
            let from = 0;
            const check = () => {
              const window = out.slice(Math.max(0, from - 4096));
              from = out.length;
              if (pattern.test(window)) {
                listeners.delete(check);
                clearTimeout(timer);
                res(out);
              }
            };
            const timer = setTimeout(() => {
              listeners.delete(check);
              rej(new Error(`did not see ${pattern} in ${JSON.stringify(out.slice(-300))}; messages: ${JSON.stringify(messages)}`));
            }, ms);
            listeners.add(check);
            check();
          });
        },
      });
    });
  });
}
