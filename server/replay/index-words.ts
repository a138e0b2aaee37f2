// The search index, built off the console's path: every broker looks for queued chunks about
// twice a second and moves them, a batch at a time, into the indexed tables (claimed with skip
// locked, so several brokers share the work and never index a chunk twice). Search lags the
// screen by about that long; the command timeline reads the queue too, so it never lags.
import { indexQueuedWords, type Database } from '../db/index.js';

const BATCH = 64;

export function startWordIndexer(db: Database, log: { warn(obj: object, msg: string): void }, everyMs = 500): () => Promise<void> {
  let running: Promise<void> | undefined;
  let stopped = false;
  const pass = async () => {
    // Drain what is queued now; a full batch means there may be more.
    while (!stopped && (await indexQueuedWords(db, BATCH)) === BATCH);
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
