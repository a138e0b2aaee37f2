// Live control for admins: every broker's live consoles, and terminate (watch is a WebSocket,
// in console-ws.ts). The database carries the request to whichever broker holds the console.
import type { FastifyInstance } from 'fastify';
import type { ConsoleService } from '../../consoles/index.js';
import { idParams } from './sessions.js';

export function liveRoutes(api: FastifyInstance, consoles: ConsoleService): void {
  api.get('/api/live', async (request) => ({ sessions: await consoles.liveSessions(request.principal!) }));

  api.post<{ Params: { id: string }; Body: { reason?: string } }>(
    '/api/sessions/:id/terminate',
    {
      schema: {
        params: idParams,
        body: {
          type: 'object',
          properties: { reason: { type: 'string', maxLength: 500 }, csrf: { type: 'string', maxLength: 200 } },
          additionalProperties: false,
        },
      },
    },
    async (request) => {
      await consoles.terminate(request.principal!, request.params.id, request.body.reason ?? '');
      return { terminated: request.params.id };
    },
  );
}
