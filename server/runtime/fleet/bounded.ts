// Work over every fleet node, a few at a time: a large fleet is visited without opening hundreds
// of SSH connections at once, and one node that hangs until its connect timeout does not hold
// up the rest.

/** Fleet nodes visited at once (probes, reaper listings). */
export const NODES_AT_ONCE = 8;

export async function mapBounded<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
