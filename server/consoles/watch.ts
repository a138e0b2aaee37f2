// Watching a live console from any broker: a read-only tail of its stored recording. The
// watcher's broker polls the chunks the owner stores (the owner flushes more often while it is
// watched), so watching needs no connection to the broker that holds the console.
import { recentChunks, tailRecording, type Database } from '../db/index.js';
import { chunkEvents, resizeOf } from '../recording/index.js';
import type { ConsoleObserver } from './session.js';

/** Recent output shown to a watcher who joins mid-session, so they see the screen, not a blank. */
const RECENT_OUTPUT_BYTES = 64 * 1024;
const POLL_MS = 150;

export interface Tail {
  recent: string;
  cols: number;
  rows: number;
  stop(): void;
}

/**
 * What a console shows now, from its stored recording: its recent output (to draw the screen
 * for a watcher who joins, or a page that reattaches), its size, and the last chunk read.
 */
export async function storedScreen(db: Database, sessionId: string, header: { width: number; height: number }): Promise<{ recent: string; cols: number; rows: number; last: number }> {
  const window = await recentChunks(db, sessionId, RECENT_OUTPUT_BYTES);
  let size = { cols: header.width, rows: header.height };
  let text = '';
  for (const c of window) {
    for (const e of chunkEvents(c.data)) {
      if (e.code === 'o') text += e.data;
      else if (e.code === 'r') size = resizeOf(e.data) ?? size;
    }
  }
  return { recent: text, ...size, last: window.at(-1)?.seq ?? 0 };
}

/**
 * Starts tailing: returns what is on screen so far, then sends each stored output event to the
 * observer until the session ends (observer.end with its end reason) or stop() is called.
 */
export async function tailConsole(db: Database, sessionId: string, header: { width: number; height: number }, observer: ConsoleObserver): Promise<Tail> {
  const { recent: text, cols, rows, last: lastRead } = await storedScreen(db, sessionId, header);
  const size = { cols, rows };
  let last = lastRead;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const poll = async () => {
    if (stopped) return;
    try {
      const { ended, chunks } = await tailRecording(db, sessionId, last, 16);
      for (const c of chunks) {
        last = c.seq;
        for (const e of chunkEvents(c.data)) {
          if (e.code === 'r') {
            const s = resizeOf(e.data);
            if (s) observer.resize(s.cols, s.rows);
          } else if (e.code === 'o' && !observer.send(e.data)) {
            stopped = true;
            observer.end('watcher too slow');
            return;
          }
        }
      }
      if (ended && chunks.length === 0) {
        stopped = true;
        observer.end(ended.reason);
        return;
      }
    } catch {
      // A database blip: the next poll tries again; the owner's console is not affected.
    }
    if (!stopped) timer = setTimeout(() => void poll(), POLL_MS);
  };
  timer = setTimeout(() => void poll(), POLL_MS);
  return {
    recent: text,
    ...size,
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
