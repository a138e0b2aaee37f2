// A per-key token bucket for what anyone can make a front door do without logging in (start a
// login over HTTP or SSH, write a refusal to the audit log). Shared by both doors, so it sits
// beside errors.ts. Bounded: at most `maxKeys` buckets are kept; when full, the oldest go.
export interface RateLimiter {
  /** Takes one token for `key`; false when its bucket is empty. */
  take(key: string): boolean;
}

export function createRateLimiter(options: { perMinute: number; burst: number; maxKeys?: number }): RateLimiter {
  const maxKeys = options.maxKeys ?? 10_000;
  const buckets = new Map<string, { tokens: number; at: number }>();
  return {
    take(key) {
      const now = Date.now();
      let b = buckets.get(key);
      if (b) {
        b.tokens = Math.min(options.burst, b.tokens + ((now - b.at) / 60_000) * options.perMinute);
        b.at = now;
        buckets.delete(key); // re-inserted below: the map's order is least recently used first
      } else {
        b = { tokens: options.burst, at: now };
        if (buckets.size >= maxKeys) buckets.delete(buckets.keys().next().value!);
      }
      buckets.set(key, b);
      if (b.tokens < 1) return false;
      b.tokens -= 1;
      return true;
    },
  };
}

export interface WarnLog {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/**
 * The log the background loops retry through (heartbeat, checkpoints, search index, keyframes,
 * notifications). During a database outage each of them fails on every tick; an operator needs
 * to see that it is failing, not a screenful a second (nor a log volume that fills a disk over a
 * long outage). So warnings pass at most once per `everyMs`, the next one that passes says how
 * many were held back; errors (a tampering alert, a broker declared lost) always pass.
 */
export function throttleWarnings(log: WarnLog, everyMs = 1000): WarnLog {
  let lastAt = -Infinity;
  let held = 0;
  return {
    warn(obj, msg) {
      const now = performance.now();
      if (now - lastAt < everyMs) {
        held += 1;
        return;
      }
      lastAt = now;
      if (held) log.warn({ ...obj, heldBack: held }, `${msg} (and ${held} more warning${held === 1 ? '' : 's'} of background work held back since the last)`);
      else log.warn(obj, msg);
      held = 0;
    },
    error: (obj, msg) => log.error(obj, msg),
  };
}

/**
 * Runs `pass` now and every `everyMs`, never two at once; a failed pass is logged (through the
 * throttle above, when given it) and the next tick tries again. Returns a stop function that
 * waits for the pass in flight. For the claimed jobs any broker runs (retention, the mover).
 */
export function repeatPass(pass: () => Promise<unknown>, everyMs: number, log: { warn(obj: object, msg: string): void }, failed: string): () => Promise<void> {
  let running: Promise<unknown> | undefined;
  const tick = () => {
    running ??= pass()
      .catch((err: unknown) => log.warn({}, `${failed}, will retry: ${(err as Error).message}`))
      .finally(() => (running = undefined));
  };
  const timer = setInterval(tick, everyMs);
  timer.unref();
  tick();
  return async () => {
    clearInterval(timer);
    await running;
  };
}
