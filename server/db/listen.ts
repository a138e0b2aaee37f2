// LISTEN on a channel over a dedicated connection (a pooled one would be handed to others), and
// reconnect after it is lost. Notifications are only doorbells: whoever listens also polls, so a
// notification lost while reconnecting delays an action by at most one poll.
import pg from 'pg';

export function listen(url: string, channel: string, onNotify: (payload: string) => void): () => Promise<void> {
  let stopped = false;
  let client: pg.Client | undefined;
  let retry: NodeJS.Timeout | undefined;
  const again = () => {
    if (!stopped && !retry) retry = setTimeout(() => {
      retry = undefined;
      void connect().catch(again);
    }, 1000);
  };
  const connect = async () => {
    if (stopped) return;
    const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
    client = c;
    c.on('error', () => {});
    c.on('end', again);
    c.on('notification', (n) => {
      if (n.channel === channel) onNotify(n.payload ?? '');
    });
    try {
      await c.connect();
      await c.query(`listen ${pg.escapeIdentifier(channel)}`);
    } catch {
      await c.end().catch(() => {});
      again();
    }
  };
  // connect() handles its own failures; a throw before its try (a malformed URL) is retried too.
  void connect().catch(again);
  return async () => {
    stopped = true;
    clearTimeout(retry);
    await client?.end().catch(() => {});
  };
}
