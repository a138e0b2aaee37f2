// Waits for SSH logins to be confirmed in a browser: one poll for all of this broker's waiting
// connections, four times a second while any wait, so a confirmation on any broker reaches the
// connection within a second and an idle door costs no queries.
import type { Principal, SshLogins } from '../identity/index.js';

const POLL_MS = 250;

export type LoginOutcome = { principal: Principal } | { refused: string; why: 'expired' | 'disconnected' | 'login_ended' | 'stopping' };

export interface LoginWaiter {
  /** Resolves when the login is confirmed, or refused (its browser login ended, it expired). */
  wait(token: string, expiresAt: Date, signal: AbortSignal): Promise<LoginOutcome>;
  stop(): void;
}

export function createLoginWaiter(logins: SshLogins, onError: (err: unknown) => void): LoginWaiter {
  const waiting = new Map<string, (o: LoginOutcome) => void>();
  let timer: NodeJS.Timeout | undefined;
  let polling = false;
  let failing = false;

  const poll = async () => {
    if (polling || waiting.size === 0) return;
    polling = true;
    try {
      const taken = await logins.take([...waiting.keys()]);
      failing = false;
      for (const [token, principal] of taken) {
        waiting.get(token)?.(principal ? { principal } : { refused: 'the browser login that confirmed it has ended; connect again', why: 'login_ended' });
      }
    } catch (err) {
      // The database is away: keep waiting (the link may still be confirmed); say so once.
      if (!failing) onError(err);
      failing = true;
    } finally {
      polling = false;
    }
  };

  return {
    wait(token, expiresAt, signal) {
      // The client may have gone before its (empty) answer arrived: nothing to wait for.
      if (signal.aborted) return Promise.resolve({ refused: 'the client went away', why: 'disconnected' });
      return new Promise((resolve) => {
        const expiry = setTimeout(() => done({ refused: 'the link expired before anyone confirmed it', why: 'expired' }), Math.max(0, expiresAt.getTime() - Date.now()));
        const onAbort = () => done({ refused: 'the client went away', why: 'disconnected' });
        function done(o: LoginOutcome) {
          if (!waiting.delete(token)) return;
          clearTimeout(expiry);
          signal.removeEventListener('abort', onAbort);
          if (waiting.size === 0) {
            clearInterval(timer);
            timer = undefined;
          }
          resolve(o);
        }
        waiting.set(token, done);
        signal.addEventListener('abort', onAbort, { once: true });
        timer ??= setInterval(() => void poll(), POLL_MS);
      });
    },
    stop() {
      clearInterval(timer);
      timer = undefined;
      for (const done of [...waiting.values()]) done({ refused: 'the broker is stopping', why: 'stopping' });
    },
  };
}
