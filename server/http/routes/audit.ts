// GET /api/audit: the audit trail for auditors and admins, newest first.
import type { FastifyInstance } from 'fastify';
import { authorizeAuditRead } from '../../access/index.js';
import type { AuditLog } from '../../audit/index.js';

export function auditRoutes(api: FastifyInstance, audit: AuditLog): void {
  api.get<{ Querystring: { action?: string; subject?: string; before?: string } }>(
    '/api/audit',
    {
      schema: {
        querystring: {
          type: 'object',
          properties: {
            action: { type: 'string', pattern: '^[a-z_.]{1,60}$' },
            subject: { type: 'string', maxLength: 200 },
            before: { type: 'string', pattern: '^[0-9]{1,19}$' },
          },
          additionalProperties: false,
        },
      },
    },
    async (request) => {
      authorizeAuditRead(request.principal!);
      const { action, subject, before } = request.query;
      const events = await audit.trail({ actionPrefix: action, subject: subject || undefined, beforeSeq: before, limit: 100 });
      return {
        events: events.map((e) => ({ seq: e.seq, at: e.at, actor: e.actor_name ?? e.actor, action: e.action, subject: e.subject, details: e.details })),
      };
    },
  );
}
