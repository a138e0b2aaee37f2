// The command line's way in (`sallyport admin login`), shaped like a device login: the CLI starts
// a login and polls with its own secret (neither acts for anyone: no CSRF gate, a budget per
// client address); the link it shows opens /cli/TOKEN in the web app, where a logged-in user
// reads who is asking and confirms (logged in, with CSRF, like every other change). What the
// login means is identity's (identity/cli-logins.ts); what it may do, the access layer's.
// POST /api/logout ends the caller's own login, cookie or bearer token.
import type { FastifyInstance } from 'fastify';
import type { Config } from '../../config/index.js';
import { SallyportError } from '../../errors.js';
import type { CliLogins, Identity } from '../../identity/index.js';
import { createRateLimiter } from '../../rate-limit.js';
import { credentialFrom } from '../session.js';

const secret = { type: 'string', pattern: '^[A-Za-z0-9_-]{32}$' } as const;
const tokenParams = { type: 'object', properties: { token: secret }, required: ['token'], additionalProperties: false } as const;
const csrfOnly = { type: 'object', properties: { csrf: { type: 'string', maxLength: 200 } }, additionalProperties: false } as const;

export function cliLoginRoutes(app: FastifyInstance, config: Config, s: { cliLogins: CliLogins; identity: Identity }): void {
  const { cliLogins } = s;
  // Starting a login needs no account and writes a row; polling is once a second.
  const starts = createRateLimiter({ perMinute: config.limits.loginsPerMinute, burst: config.limits.loginsPerMinute });
  const polls = createRateLimiter({ perMinute: 120, burst: 20 });

  app.post<{ Body: { client: string; scope?: 'full' | 'admin' } }>(
    '/api/cli-logins',
    {
      config: { csrfExempt: true },
      schema: {
        body: {
          type: 'object',
          // What the CLI says it is (`sallyport/0.1.0 on host`): shown on the confirming page.
          // scope: the admin and audit API (the default), or everything the user may do.
          properties: { client: { type: 'string', minLength: 1, maxLength: 100, pattern: '^[ -~]+$' }, scope: { type: 'string', enum: ['admin', 'full'] } },
          required: ['client'],
          additionalProperties: false,
        },
      },
    },
    async (request, reply) => {
      if (!starts.take(request.ip)) {
        throw new SallyportError('LIMIT_REACHED', `too many logins started from ${request.ip}: at most ${config.limits.loginsPerMinute} a minute (SALLYPORT_LOGINS_PER_MINUTE)`);
      }
      const started = await cliLogins.begin({ clientAddress: request.ip, clientName: request.body.client, scope: request.body.scope ?? 'admin' });
      reply.status(201).header('cache-control', 'no-store');
      return { url: started.url, code: started.code, pollSecret: started.pollSecret, expiresAt: started.expiresAt.toISOString() };
    },
  );

  app.post<{ Body: { pollSecret: string } }>(
    '/api/cli-logins/poll',
    { config: { csrfExempt: true }, schema: { body: { type: 'object', properties: { pollSecret: secret }, required: ['pollSecret'], additionalProperties: false } } },
    async (request, reply) => {
      if (!polls.take(request.ip)) throw new SallyportError('LIMIT_REACHED', 'polling too fast: once a second is enough');
      reply.header('cache-control', 'no-store');
      return cliLogins.poll(request.body.pollSecret);
    },
  );

  app.register(async (api) => {
    api.addHook('preHandler', async (request) => {
      if (!request.principal) throw new SallyportError('UNAUTHENTICATED', 'log in first');
    });
    api.get<{ Params: { token: string } }>('/api/cli-logins/:token', { schema: { params: tokenParams } }, async (request, reply) => {
      reply.header('cache-control', 'no-store');
      return cliLogins.view(request.params.token, { address: request.ip });
    });
    api.post<{ Params: { token: string } }>('/api/cli-logins/:token/confirm', { schema: { params: tokenParams, body: csrfOnly } }, async (request) =>
      cliLogins.confirm(request.params.token, request.principal!, { address: request.ip }),
    );
    // The user's live command-line logins (an admin: everyone's with ?all=true), and revoking one.
    api.get<{ Querystring: { all?: 'true' | 'false' } }>(
      '/api/cli-sessions',
      { schema: { querystring: { type: 'object', properties: { all: { type: 'string', enum: ['true', 'false'] } }, additionalProperties: false } } },
      async (request, reply) => {
        reply.header('cache-control', 'no-store');
        const rows = await cliLogins.list(request.principal!, request.query.all === 'true');
        return { logins: rows.map((r) => ({ ...r, createdAt: r.createdAt.toISOString(), expiresAt: r.expiresAt.toISOString() })) };
      },
    );
    api.post<{ Params: { id: string } }>(
      '/api/cli-sessions/:id/revoke',
      { schema: { params: { type: 'object', properties: { id: { type: 'string', format: 'uuid' } }, required: ['id'], additionalProperties: false }, body: csrfOnly } },
      async (request) => {
        await cliLogins.revoke(request.principal!, request.params.id);
        return { revoked: request.params.id };
      },
    );
    api.post('/api/logout', { schema: { body: csrfOnly } }, async (request) => {
      // The session only: no IdP end-session redirect for a client that follows none.
      await s.identity.endLogin(credentialFrom(request, config)!, request.principal!);
      return { loggedOut: request.principal!.username };
    });
  });
}
