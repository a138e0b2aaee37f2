// CSRF tokens, a front-door concern: a token is HMAC(session secret, "csrf", browser session id),
// so it needs no storage and dies with the session. The gate that checks it is in security.ts.
import { createHmac, timingSafeEqual } from 'node:crypto';

export interface Csrf {
  token(sessionId: string): string;
  check(sessionId: string, token: string | undefined): boolean;
}

/** Tokens are made with `secret`; during a secret rotation `previous` ones are still accepted. */
export function createCsrf(secret: string, previous: readonly string[] = []): Csrf {
  const expected = (key: string, sessionId: string) => createHmac('sha256', key).update(`csrf\0${sessionId}`).digest();
  return {
    token: (sessionId) => expected(secret, sessionId).toString('base64url'),
    check(sessionId, token) {
      if (!token) return false;
      const given = Buffer.from(token, 'base64url');
      return [secret, ...previous].some((key) => {
        const want = expected(key, sessionId);
        return given.length === want.length && timingSafeEqual(given, want);
      });
    },
  };
}
