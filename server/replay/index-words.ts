// The search index, built off the console's path: every broker looks for queued chunks about
// twice a second and moves them, a batch at a time, into the indexed tables (claimed with skip
// locked, so several brokers share the work and never index a chunk twice). Search lags the
// screen by about that long; the command timeline reads the queue too, so it never lags.
import { indexQueuedWords, skipQueuedWords, type Database } from '../db/index.js';

const BATCH = 64;

export function startWordIndexer(db: Database, log: { warn(obj: object, msg: string): void }, everyMs = 500): () => Promise<void> {
  let running: Promise<void> | undefined;
  let stopped = false;
  const pass = async () => {
    // Drain what is queued now; a full batch means there may be more.
    for (;;) {
      if (stopped) return;
      let n: number;
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
  const timer = setInterval(tick, everyMs);
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
