// The browser side of an SSH login: the link a stock `ssh` client was shown opens /ssh/TOKEN (the
// web app), which reads what is asking to start and confirms it here. Logged in, with CSRF, like
// every other change; who may confirm and what it means is identity's (identity/ssh-logins.ts).
// Also public: the SSH door's host key, so users can check the fingerprint `ssh` shows them.
import type { FastifyInstance } from 'fastify';
import type { SshLogins } from '../../identity/index.js';
import { SallyportError } from '../../errors.js';

const tokenParams = { type: 'object', properties: { token: { type: 'string', pattern: '^[A-Za-z0-9_-]{32}$' } }, required: ['token'], additionalProperties: false } as const;

export interface SshDoorInfo {
  /** The port the SSH door listens on, its host key line and SHA256 fingerprint; undefined = off. */
  current(): { port: number; hostKey: string; fingerprint: string } | undefined;
}

export function sshLoginRoutes(app: FastifyInstance, logins: SshLogins, door: SshDoorInfo): void {
  app.get('/.well-known/sallyport/ssh-host-key.pub', async (_request, reply) => {
    const d = door.current();
    if (!d) throw new SallyportError('NOT_FOUND', 'this broker has no SSH front door (SALLYPORT_SSH_LISTEN is not set)');
    reply.header('cache-control', 'public, max-age=300').type('text/plain; charset=utf-8');
    return `${d.hostKey}\n`;
  });

  app.register(async (api) => {
    api.addHook('preHandler', async (request) => {
      if (!request.principal) throw new SallyportError('UNAUTHENTICATED', 'log in first');
    });
    api.get<{ Params: { token: string } }>('/api/ssh-logins/:token', { schema: { params: tokenParams } }, async (request, reply) => {
      reply.header('cache-control', 'no-store');
      return logins.view(request.params.token, { address: request.ip });
    });
    api.post<{ Params: { token: string } }>(
      '/api/ssh-logins/:token/confirm',
      { schema: { params: tokenParams, body: { type: 'object', properties: { csrf: { type: 'string', maxLength: 200 } }, additionalProperties: false } } },
      async (request) => logins.confirm(request.params.token, request.principal!),
    );
    // Keys that log the user in at the SSH door without a browser, and their revocation.
    api.get('/api/me/ssh-keys', async (request, reply) => {
      reply.header('cache-control', 'no-store');
      return { keys: await logins.keys(request.principal!) };
    });
    api.post<{ Params: { id: string } }>(
      '/api/ssh-keys/:id/revoke',
      {
        schema: {
          params: { type: 'object', properties: { id: { type: 'string', pattern: '^[0-9a-f]{64}$' } }, required: ['id'], additionalProperties: false },
          body: { type: 'object', properties: { csrf: { type: 'string', maxLength: 200 } }, additionalProperties: false },
        },
      },
      async (request) => {
        await logins.revokeKey(request.principal!, request.params.id);
        return { revoked: request.params.id };
      },
    );
  });
}
