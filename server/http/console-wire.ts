// The console WebSocket's wire protocol, shared by the broker (server/http/routes/console-ws.ts)
// and the browser (web/src/console.ts, web/src/live.ts): one definition of every message and one
// encode/decode for each side. Terminal bytes travel as binary frames — output from the broker,
// typed input from the browser — so they are never wrapped in JSON or re-encoded per chunk;
// everything else is a small JSON text frame. No imports: this file is bundled into the web app.

/** The largest frame either side sends; the broker closes a socket that sends more (1009). */
export const MAX_FRAME_BYTES = 64 * 1024;
/** Input is sent in pieces of at most this many bytes, split between characters. */
export const INPUT_PIECE_BYTES = 16 * 1024;
/** Sizes a terminal may have, in columns and rows. */
export const MAX_TERMINAL_CELLS = 1000;

/** Control messages from the browser (text frames). Input goes as binary frames. */
export type ClientControl =
  | { type: 'open'; cols: number; rows: number }
  /**
   * Instead of open: carry on with a console of this login whose socket dropped (a reload, a
   * blip), with the key its `started` message gave. `takeover` moves it from another tab.
   */
  | { type: 'reattach'; sessionId: string; key: string; takeover: boolean; cols: number; rows: number }
  | { type: 'resize'; cols: number; rows: number }
  | { type: 'end' };

/** A reattach key: 32 random bytes, base64url. */
export const REATTACH_KEY = /^[A-Za-z0-9_-]{43}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Control messages from the broker (text frames). Output goes as binary frames. */
export type ServerControl =
  /**
   * The console runs. `reattachKey`: what a page of the same login sends to carry on with it after
   * its socket dropped (kept in the tab, never in a URL); `reattached`: this socket carries on
   * with a running console (the screen that follows is its recent output).
   */
  | { type: 'started'; sessionId: string; reattachKey?: string; reattached?: boolean }
  /** The console went on in another tab or window of this login: this socket is done, the console is not. */
  | { type: 'moved'; message: string }
  /** When the console will end (the grant's end or its maximum duration) and its idle timeout, for a countdown. */
  | { type: 'limits'; endsAt: string; because: 'access' | 'console'; idleSeconds: number }
  | { type: 'watching'; sessionId: string; cols: number; rows: number }
  | { type: 'resize'; cols: number; rows: number }
  | { type: 'watchers'; names: string[] }
  | { type: 'notice'; message: string }
  | { type: 'error'; code: string; message: string }
  | { type: 'exit'; reason: string; code?: string; exitCode: number | null };

/** What is wrong with a frame, naming the field. */
export interface WireProblem {
  problem: { field: string; message: string };
}

export function isWireProblem(x: unknown): x is WireProblem {
  return typeof x === 'object' && x !== null && 'problem' in x;
}

const problem = (field: string, message: string): WireProblem => ({ problem: { field, message } });

/** Validates a browser's text frame: an open, a resize or an end, nothing else, no unknown fields. */
export function parseClientControl(raw: string): ClientControl | WireProblem {
  let m: unknown;
  try {
    m = JSON.parse(raw);
  } catch {
    return problem('message', 'must be JSON');
  }
  if (typeof m !== 'object' || m === null || Array.isArray(m)) return problem('message', 'must be a JSON object');
  const o = m as Record<string, unknown>;
  // The user ends the console (the End session button): nothing else in it.
  if (o.type === 'end') return Object.keys(o).length === 1 ? { type: 'end' } : problem('message', 'has unknown fields');
  if (o.type !== 'open' && o.type !== 'resize' && o.type !== 'reattach') {
    return problem('type', o.type === 'input' ? 'input goes as binary frames of UTF-8, not JSON' : 'must be one of open, reattach, resize, end');
  }
  for (const f of ['cols', 'rows'] as const) {
    const v = o[f];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > MAX_TERMINAL_CELLS) return problem(f, `must be an integer from 1 to ${MAX_TERMINAL_CELLS}`);
  }
  const size = { cols: o.cols as number, rows: o.rows as number };
  if (o.type === 'reattach') {
    if (typeof o.sessionId !== 'string' || !UUID.test(o.sessionId)) return problem('sessionId', 'must be the session id the console started with');
    if (typeof o.key !== 'string' || !REATTACH_KEY.test(o.key)) return problem('key', 'must be the reattach key the console started with');
    if (o.takeover !== undefined && typeof o.takeover !== 'boolean') return problem('takeover', 'must be true or false');
    if (Object.keys(o).some((k) => !['type', 'cols', 'rows', 'sessionId', 'key', 'takeover'].includes(k))) return problem('message', 'has unknown fields');
    return { type: 'reattach', sessionId: o.sessionId, key: o.key, takeover: o.takeover === true, ...size };
  }
  if (Object.keys(o).some((k) => k !== 'type' && k !== 'cols' && k !== 'rows')) return problem('message', 'has unknown fields');
  return { type: o.type, ...size };
}

// Fatal: a frame that is not UTF-8 is refused, not silently changed (the browser never splits a
// character across frames, see encodeInput).
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** A browser's binary frame as the text typed. */
export function decodeInput(frame: Uint8Array): string | WireProblem {
  try {
    return strictUtf8.decode(frame);
  } catch {
    return problem('input', 'must be UTF-8');
  }
}

const utf8 = new TextEncoder();

/**
 * Typed or pasted text as binary frames of at most INPUT_PIECE_BYTES, each whole characters, so
 * a large paste never exceeds the frame limit and every frame decodes on its own.
 */
export function encodeInput(text: string): Uint8Array[] {
  const whole = utf8.encode(text);
  if (whole.length <= INPUT_PIECE_BYTES) return [whole];
  const pieces: Uint8Array[] = [];
  let start = 0;
  while (start < whole.length) {
    let end = Math.min(start + INPUT_PIECE_BYTES, whole.length);
    // Back up to the start of a character: UTF-8 continuation bytes are 10xxxxxx.
    while (end < whole.length && (whole[end]! & 0xc0) === 0x80) end--;
    pieces.push(whole.subarray(start, end));
    start = end;
  }
  return pieces;
}

/** A broker's text frame as a control message; null for anything this client does not know. */
export function parseServerControl(raw: string): ServerControl | null {
  try {
    const m = JSON.parse(raw) as unknown;
    if (typeof m !== 'object' || m === null || typeof (m as { type?: unknown }).type !== 'string') return null;
    return m as ServerControl;
  } catch {
    return null;
  }
}

export function encodeControl(msg: ServerControl | ClientControl): string {
  return JSON.stringify(msg);
}
