// CSRF tokens, a front-door concern: a token is HMAC(session secret, "csrf", browser session id),
// so it needs no storage and dies with the session. The gate that checks it is in security.ts.
import { createHmac, timingSafeEqual } from 'node:crypto';

export interface Csrf {
  token(sessionId: string): string;
  check(sessionId: string, token: string | undefined): boolean;
}

export function createCsrf(secret: string): Csrf {
  const expected = (sessionId: string) => createHmac('sha256', secret).update(`csrf\0${sessionId}`).digest();
  return {
    token: (sessionId) => expected(sessionId).toString('base64url'),
    check(sessionId, token) {
      if (!token) return false;
      const want = expected(sessionId);
      const given = Buffer.from(token, 'base64url');
      return given.length === want.length && timingSafeEqual(given, want);
    },
  };
}
