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
