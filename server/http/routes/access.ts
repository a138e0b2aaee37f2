// The just-in-time access API: ask, list, read, decide, withdraw, revoke. Bodies are checked by
// schema here (types, lengths, unknown fields); every decision about who may do what is made
// by access/, which this file only calls.
import type { FastifyInstance } from 'fastify';
import type { AccessRequests, AccessRequestScope } from '../../access/index.js';
import { SallyportError } from '../../errors.js';

const idParams = { type: 'object', properties: { id: { type: 'string', format: 'uuid' } }, required: ['id'], additionalProperties: false } as const;
// Lengths are the access layer's to enforce (it names the field); the schema stops absurd sizes early.
const text = (max: number) => ({ type: 'string', maxLength: max }) as const;
const csrf = { type: 'string', maxLength: 200 } as const;

export function accessRoutes(app: FastifyInstance, access: AccessRequests): void {
  app.register(async (api) => {
    api.addHook('preHandler', async (request) => {
      if (!request.principal) throw new SallyportError('UNAUTHENTICATED', 'log in first');
    });

    api.post<{ Body: { target: string; reason: string; durationSeconds: number } }>(
      '/api/access-requests',
      {
        schema: {
          body: {
            type: 'object',
            properties: { target: text(100), reason: text(4000), durationSeconds: { type: 'integer' }, csrf },
            required: ['target', 'reason', 'durationSeconds'],
            additionalProperties: false,
          },
        },
      },
      async (request, reply) => {
        const { target, reason, durationSeconds } = request.body;
        const row = await access.request(request.principal!, target, { reason, durationSeconds });
        reply.status(201);
        return access.get(request.principal!, row.id);
      },
    );

    // More time for a grant in force: a request of its own, for the same console, that the
    // approvers decide like any other; approved, the grant's live consoles run on under it.
    api.post<{ Params: { id: string }; Body: { reason: string; durationSeconds: number } }>(
      '/api/access-requests/:id/extend',
      {
        schema: {
          params: idParams,
          body: {
            type: 'object',
            properties: { reason: text(4000), durationSeconds: { type: 'integer' }, csrf },
            required: ['reason', 'durationSeconds'],
            additionalProperties: false,
          },
        },
      },
      async (request, reply) => {
        const original = await access.get(request.principal!, request.params.id);
        const row = await access.request(request.principal!, original.target, { ...request.body, extends: request.params.id });
        reply.status(201);
        return access.get(request.principal!, row.id);
      },
    );

    api.get<{ Querystring: { scope: AccessRequestScope } }>(
      '/api/access-requests',
      {
        schema: {
          querystring: {
            type: 'object',
            properties: { scope: { type: 'string', enum: ['mine', 'decide', 'active'] } },
            required: ['scope'],
            additionalProperties: false,
          },
        },
      },
      async (request) => ({ requests: await access.list(request.principal!, request.query.scope) }),
    );

    api.get<{ Params: { id: string } }>('/api/access-requests/:id', { schema: { params: idParams } }, async (request) =>
      access.get(request.principal!, request.params.id),
    );

    api.post<{ Params: { id: string }; Body: { decision: 'approve' | 'deny'; comment?: string } }>(
      '/api/access-requests/:id/decision',
      {
        schema: {
          params: idParams,
          body: {
            type: 'object',
            properties: { decision: { type: 'string', enum: ['approve', 'deny'] }, comment: text(4000), csrf },
            required: ['decision'],
            additionalProperties: false,
          },
        },
      },
      async (request) => {
        await access.decide(request.principal!, request.params.id, request.body.decision, request.body.comment ?? '');
        return access.get(request.principal!, request.params.id);
      },
    );

    api.post<{ Params: { id: string } }>(
      '/api/access-requests/:id/withdraw',
      { schema: { params: idParams, body: { type: 'object', properties: { csrf }, additionalProperties: false } } },
      async (request) => {
        await access.withdraw(request.principal!, request.params.id);
        return access.get(request.principal!, request.params.id);
      },
    );

    api.post<{ Params: { id: string } }>(
      '/api/access-requests/:id/hand-back',
      { schema: { params: idParams, body: { type: 'object', properties: { csrf }, additionalProperties: false } } },
      async (request) => {
        await access.handBack(request.principal!, request.params.id);
        return access.get(request.principal!, request.params.id);
      },
    );

    api.post<{ Params: { id: string }; Body: { reason?: string } }>(
      '/api/access-requests/:id/revoke',
      { schema: { params: idParams, body: { type: 'object', properties: { reason: text(4000), csrf }, additionalProperties: false } } },
      async (request) => {
        await access.revoke(request.principal!, request.params.id, request.body.reason ?? '');
        return access.get(request.principal!, request.params.id);
      },
    );
  });
}
