// GET /api/audit: the audit trail for auditors and admins, newest first; /api/audit/export: the
// same filter as a download (JSON lines or CSV), oldest first, audited.
import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { authorizeAuditRead } from '../../access/index.js';
import { AUDIT_EXPORT_FORMATS, type AuditExportFormat, type AuditLog } from '../../audit/index.js';

const filterFields = {
  action: { type: 'string', pattern: '^[a-z_.]{1,60}$' },
  subject: { type: 'string', maxLength: 200 },
} as const;

export function auditRoutes(api: FastifyInstance, audit: AuditLog): void {
  api.get<{ Querystring: { action?: string; subject?: string; before?: string; after?: string } }>(
    '/api/audit',
    {
      schema: {
        querystring: {
          type: 'object',
          // after: the events after that one, oldest first (to follow the log); else newest first.
          properties: { ...filterFields, before: { type: 'string', pattern: '^[0-9]{1,19}$' }, after: { type: 'string', pattern: '^[0-9]{1,19}$' } },
          additionalProperties: false,
        },
      },
    },
    async (request) => {
      authorizeAuditRead(request.principal!);
      const { action, subject, before, after } = request.query;
      const events = await audit.trail({ actionPrefix: action, subject: subject || undefined, beforeSeq: before, afterSeq: after, limit: 100 });
      return {
        events: events.map((e) => ({ seq: e.seq, at: e.at, actor: e.actor_name ?? e.actor, action: e.action, subject: e.subject, details: e.details })),
      };
    },
  );

  api.get<{ Querystring: { action?: string; subject?: string; format: AuditExportFormat } }>(
    '/api/audit/export',
    {
      schema: {
        querystring: {
          type: 'object',
          properties: { ...filterFields, format: { type: 'string', enum: [...AUDIT_EXPORT_FORMATS] } },
          required: ['format'],
          additionalProperties: false,
        },
      },
    },
    async (request, reply) => {
      const p = request.principal!;
      authorizeAuditRead(p);
      const { action, subject, format } = request.query;
      const out = await audit.exportTrail({ userId: p.userId, username: p.username }, { actionPrefix: action, subject: subject || undefined }, format);
      reply.type(out.contentType).header('content-disposition', `attachment; filename="${out.name}"`).header('cache-control', 'private, no-store');
      return reply.send(Readable.from(out.lines));
    },
  );
}
