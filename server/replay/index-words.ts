// The search index, built off the console's path: every broker looks for queued chunks five
// times a second, reads their output back from the stored chunk, works out its screen text
// (escapes removed) and moves it, a batch at a time, into the indexed tables (claimed with skip
// locked, so several brokers share the work and never index a chunk twice). Each batch takes the
// oldest chunk of each console (db/recording-words.ts), so a console printing a flood does not
// hold up the words of every other. The work is bounded: a broker spends at most
// `msPerSecond` of time a second on it (the database's and its own) (a token bucket, SALLYPORT_SEARCH_INDEX_MS_PER_SECOND),
// so indexing never takes the database from the consoles; under more output than that, search
// lags and catches up later — the recording itself is stored at once and never waits for it.
// The command timeline reads the queue too, so it never lags.
import { claimQueuedWords, skipQueuedWords, storeIndexedWords, wordsQueued, type Database } from '../db/index.js';
import { chunkScreenText, indexedText, screenText } from '../recording/index.js';

/** Indexes up to `limit` queued chunks in one transaction; returns how many were claimed. */
async function indexQueuedWords(db: Database, limit: number): Promise<number> {
  // Five times a second on every broker: an empty queue costs one query, not a transaction.
  if (!(await wordsQueued(db))) return 0;
  return db.transaction(async (tx) => {
    const claimed = await claimQueuedWords(tx, limit);
    const words = claimed.map((c) => {
      // Rows queued before migration 018 carry their text; the rest is read from the chunk.
      const screen = c.chunk !== null ? chunkScreenText(c.chunk) : c.text !== null ? { t: c.t ?? 0, text: c.text } : undefined;
      return { session_id: c.session_id, seq: c.seq, t: screen?.t ?? null, text: screen ? indexedText(carriedWord(c.carry, screen.text) + screen.text, INDEXED_CHARS_PER_CHUNK) : null };
    });
    await storeIndexedWords(tx, words);
    return claimed.length;
  });
}

/**
 * The unfinished word at the end of the output before a chunk, when the chunk's text goes on
 * with it (no space between): indexed with this chunk, so a word split by a flush is found.
 * Only letters, digits and `_.-@/:` count: the carry may end inside an escape sequence.
 */
export function carriedWord(carry: string | null, text: string): string {
  if (!carry || !/^[\p{L}\p{N}_.@/:-]/u.test(text)) return '';
  return /[\p{L}\p{N}_.@/:-]+$/u.exec(screenText(carry))?.[0] ?? '';
}

/**
 * Screen text indexed per chunk (about a second of output): interactive work whole, a flood at
 * its start and end (recording/transcript.ts indexedText). What bounds the database's growth per
 * MiB of bulk output (docs/performance.md, bench/storage.ts).
 */
export const INDEXED_CHARS_PER_CHUNK = 8192;

/**
 * Chunks per statement: two, so one statement cannot overshoot the budget by much (two bulk
 * chunks under load take up to half a second, which the bucket then pays back before small
 * chunks — a person's words — may go again).
 */
const BATCH = 2;
const TICK_MS = 200;

export function startWordIndexer(db: Database, log: { warn(obj: object, msg: string): void }, msPerSecond: number): () => Promise<void> {
  let running: Promise<void> | undefined;
  let stopped = false;
  // Milliseconds of database time this broker may still spend; refilled as time passes, never
  // above one second's worth. A batch that overshoots leaves it below zero: the next waits.
  let tokens = msPerSecond;
  let refilledAt = performance.now();
  const pass = async () => {
    // Drain what is queued now, while the budget lasts; a full batch means there may be more.
    for (;;) {
      if (stopped) return;
      const now = performance.now();
      tokens = Math.min(msPerSecond, tokens + ((now - refilledAt) / 1000) * msPerSecond);
      refilledAt = now;
      if (tokens <= 0) return;
      let n: number;
      const t0 = performance.now();
      try {
        n = await indexQueuedWords(db, BATCH);
      } catch (err) {
        if (!refusedByIndex(err)) throw err;
        // One chunk the index refuses must not hold up every chunk after it: find it, skip it.
        if ((await indexQueuedWords(db, 1).catch((e: unknown) => (refusedByIndex(e) ? -1 : Promise.reject(e)))) === -1) {
          const skipped = await skipQueuedWords(db);
          log.warn({ ...skipped, err: (err as Error).message }, 'a chunk\'s screen text could not be indexed for search; skipped (the recording is intact)');
        }
        continue;
      } finally {
        tokens -= performance.now() - t0;
      }
      if (n < BATCH) return;
    }
  };
  const tick = () => {
    if (running) return;
    running = pass()
      .catch((err: unknown) => log.warn({}, `search index not updated, will retry: ${(err as Error).message}`))
      .finally(() => (running = undefined));
  };
  const timer = setInterval(tick, TICK_MS);
  timer.unref();
  tick();
  return async () => {
    stopped = true;
    clearInterval(timer);
    await running;
  };
}

/** The index itself refuses the data (too long, malformed), as opposed to the database being away. */
function refusedByIndex(err: unknown): boolean {
  const code = (err as { code?: string }).code ?? '';
  return code.startsWith('54') || code.startsWith('22');
}
