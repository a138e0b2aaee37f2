// Cookie names and attributes, and the hook that resolves the session cookie to a Principal.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Principal } from '../identity/index.js';
import type { Config } from '../config/index.js';
import type { Identity } from '../identity/index.js';

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
  }
  interface FastifyContextConfig {
    /** The route acts for no ambient identity (the CLI's login start and poll): no CSRF gate. */
    csrfExempt?: boolean;
  }
}

export function sessionCookieName(config: Config): string {
  // __Host- binds the cookie to this exact origin (Secure, Path=/, no Domain).
  return config.session.cookieSecure ? '__Host-sallyport' : 'sallyport';
}
export const LOGIN_COOKIE = 'sallyport_login';

/** The browser's session cookie. */
export function sessionIdFrom(request: FastifyRequest, config: Config): string | undefined {
  return request.cookies[sessionCookieName(config)];
}

/** A command-line login's token (`sallyport admin`), sent as `Authorization: Bearer …`. */
export function bearerFrom(request: FastifyRequest): string | undefined {
  const m = /^Bearer ([A-Za-z0-9_-]{1,128})$/.exec(request.headers.authorization ?? '');
  return m?.[1];
}

/** The session a request speaks for: the cookie, or else a bearer token. */
export function credentialFrom(request: FastifyRequest, config: Config): string | undefined {
  return sessionIdFrom(request, config) ?? bearerFrom(request);
}

export function setSessionCookie(reply: FastifyReply, config: Config, sessionId: string): void {
  reply.setCookie(sessionCookieName(config), sessionId, {
    httpOnly: true,
    secure: config.session.cookieSecure,
    // Lax, not Strict: the login arrives by a cross-site redirect from the IdP.
    sameSite: 'lax',
    path: '/',
    maxAge: config.session.absoluteTimeoutSeconds,
  });
}

export function clearSessionCookie(reply: FastifyReply, config: Config): void {
  reply.clearCookie(sessionCookieName(config), { httpOnly: true, secure: config.session.cookieSecure, sameSite: 'lax', path: '/' });
}

export function registerSessionAuth(app: FastifyInstance, config: Config, identity: Identity): void {
  app.decorateRequest('principal', null);
  app.addHook('onRequest', async (request) => {
    // Probes, the metrics scrape (its own token) and static assets need no identity; skip the
    // database round trip for them.
    if (request.url.startsWith('/healthz') || request.url.startsWith('/readyz') || request.url.startsWith('/metrics') || request.url.startsWith('/assets/') || request.url.startsWith('/.well-known/')) return;
    const sessionId = credentialFrom(request, config);
    if (sessionId) {
      const p = await identity.authenticate(sessionId);
      // Who is asking, and from where: every audit event this request writes names the address.
      request.principal = p && Object.freeze({ ...p, clientAddress: request.ip });
    }
  });
}
