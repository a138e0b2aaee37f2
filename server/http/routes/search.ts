// GET /api/search: words on screen and typed commands across the recordings a user may see.
import type { FastifyInstance } from 'fastify';
import type { Recordings } from '../../replay/index.js';

export function searchRoutes(api: FastifyInstance, recordings: Recordings): void {
  api.get<{ Querystring: { q: string; user?: string; target?: string; from?: string; to?: string; approved?: 'true' | 'false'; grant?: string } }>(
    '/api/search',
    {
      schema: {
        querystring: {
          type: 'object',
          properties: {
            q: { type: 'string', minLength: 2, maxLength: 200 },
            user: { type: 'string', maxLength: 200 },
            target: { type: 'string', maxLength: 100 },
            from: { type: 'string', format: 'date-time' },
            to: { type: 'string', format: 'date-time' },
            approved: { type: 'string', enum: ['true', 'false'] },
            grant: { type: 'string', format: 'uuid' },
          },
          required: ['q'],
          additionalProperties: false,
        },
      },
    },
    async (request) => {
      const { q, user, target, from, to, approved, grant } = request.query;
      return {
        results: await recordings.search(request.principal!, {
          q,
          username: user || undefined,
          target: target || undefined,
          from: from ? new Date(from) : undefined,
          to: to ? new Date(to) : undefined,
          approvedOnly: approved === 'true',
          grantId: grant,
        }),
      };
    },
  );
}
