// Login, callback and logout: the browser side of the OIDC flow. The protocol itself lives in
// identity/; this file only moves values between cookies, redirects and the Identity service.
import type { FastifyInstance } from 'fastify';
import type { Config } from '../../config/index.js';
import { SallyportError } from '../../errors.js';
import type { Identity } from '../../identity/index.js';
import { page } from '../errors.js';
import { createRateLimiter } from '../../rate-limit.js';
import { clearSessionCookie, LOGIN_COOKIE, sessionIdFrom, setSessionCookie } from '../session.js';

export function authRoutes(app: FastifyInstance, config: Config, identity: Identity): void {
  const loginCookie = { httpOnly: true, secure: config.session.cookieSecure, sameSite: 'lax' as const, path: '/auth/' };
  // Starting a login needs no account and writes a row: a client address gets a budget.
  const logins = createRateLimiter({ perMinute: config.limits.loginsPerMinute, burst: config.limits.loginsPerMinute });

  app.get<{ Querystring: { returnTo?: string; reauth?: '1' } }>(
    '/auth/login',
    {
      schema: {
        querystring: {
          type: 'object',
          properties: { returnTo: { type: 'string', maxLength: 2048 }, reauth: { type: 'string', enum: ['1'] } },
          additionalProperties: false,
        },
      },
    },
    async (request, reply) => {
      if (!logins.take(request.ip)) {
        throw new SallyportError('LIMIT_REACHED', `too many logins started from ${request.ip}: at most ${config.limits.loginsPerMinute} a minute (SALLYPORT_LOGINS_PER_MINUTE)`);
      }
      // reauth=1: the step-up login a decision asks for (max_age at the IdP).
      // A step-up is for the user already logged in here: the IdP is told who (login_hint).
      const stepUp = request.query.reauth === '1';
      const { authorizationUrl, binding } = await identity.beginLogin(request.query.returnTo, { stepUp, ...(stepUp && request.principal ? { loginHint: request.principal.username } : {}) });
      reply.setCookie(LOGIN_COOKIE, binding, { ...loginCookie, maxAge: 600 });
      return reply.redirect(authorizationUrl, 303);
    },
  );

  app.get('/auth/callback', async (request, reply) => {
    // Rebuild the URL from the configured public origin, never from the Host header.
    const callbackUrl = new URL(request.url, config.publicUrl);
    const binding = request.cookies[LOGIN_COOKIE];
    reply.clearCookie(LOGIN_COOKIE, loginCookie);
    const { sessionId, returnTo } = await identity.completeLogin(callbackUrl, binding, sessionIdFrom(request, config), request.ip);
    setSessionCookie(reply, config, sessionId);
    return reply.redirect(returnTo, 303);
  });

  app.post('/auth/logout', async (request, reply) => {
    const sessionId = sessionIdFrom(request, config);
    if (!request.principal || !sessionId) throw new SallyportError('UNAUTHENTICATED', 'not logged in');
    const { redirectTo } = await identity.logout(sessionId, request.principal);
    clearSessionCookie(reply, config);
    return reply.redirect(redirectTo, 303);
  });

  app.get('/auth/logged-out', async (_request, reply) => {
    reply.type('text/html; charset=utf-8');
    return page('Logged out', '<h1>You are logged out of Sallyport</h1><p><a href="/auth/login">Log in again</a></p>');
  });
}
