// Security headers for every response and the CSRF gate for every state-changing request.
// The gate is enforced here once for the whole app, so no route can forget it.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Config } from '../config/index.js';
import { SallyportError } from '../errors.js';
import type { Csrf } from './csrf.js';
import { bearerFrom, sessionIdFrom } from './session.js';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export function registerSecurity(app: FastifyInstance, config: Config, csrf: Csrf): void {
  const idpOrigin = new URL(config.oidc.issuer).origin;
  const csp = [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "manifest-src 'self'",
    // Logout posts to us and is redirected to the IdP's end-session endpoint.
    `form-action 'self' ${idpOrigin}`,
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ].join('; ');

  app.addHook('onSend', async (_request, reply, payload) => {
    reply.header('content-security-policy', csp);
    reply.header('x-content-type-options', 'nosniff');
    reply.header('x-frame-options', 'DENY');
    // same-origin, not no-referrer: with no-referrer Chrome sends `Origin: null` on form
    // POSTs, which the CSRF gate (rightly) refuses. Nothing leaks to other sites either way.
    reply.header('referrer-policy', 'same-origin');
    reply.header('cross-origin-opener-policy', 'same-origin');
    reply.header('cross-origin-resource-policy', 'same-origin');
    reply.header('permissions-policy', 'camera=(), microphone=(), geolocation=()');
    if (config.session.cookieSecure) reply.header('strict-transport-security', 'max-age=31536000; includeSubDomains');
    if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
    return payload;
  });

  app.addHook('preHandler', async (request) => {
    if (SAFE_METHODS.has(request.method)) return;
    // CSRF rides on what a browser sends by itself (the cookie). A route that acts for nobody,
    // or a request that carries its own bearer token and no cookie, has nothing to ride on:
    // another site's page cannot set an Authorization header on a request to us.
    if (request.routeOptions.config.csrfExempt) return;
    const sessionId = sessionIdFrom(request, config);
    if (!sessionId && bearerFrom(request)) return;
    checkSameOrigin(request, config.publicUrl);
    const token = (request.headers['x-csrf-token'] as string | undefined) ?? (request.body as { csrf?: unknown } | undefined)?.csrf;
    if (!sessionId || typeof token !== 'string' || !csrf.check(sessionId, token)) {
      throw new SallyportError('CSRF_REJECTED', 'missing or invalid CSRF token');
    }
  });
}

/** Browsers always send Origin on cross-site POSTs; a mismatch or absence is refused. */
export function checkSameOrigin(request: FastifyRequest, publicUrl: string): void {
  const origin = request.headers.origin;
  if (origin !== publicUrl) {
    throw new SallyportError('CSRF_REJECTED', origin ? `cross-site request from ${origin.slice(0, 100)} refused` : 'request without Origin refused');
  }
}
