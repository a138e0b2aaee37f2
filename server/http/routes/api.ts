// JSON API for the web app. Every route below requires a live session (one hook for the whole
// subtree); what a user may see is decided by access/, never here.
import type { FastifyInstance } from 'fastify';
import { authorizeAuditRead, usableTargets, type AccessRequests } from '../../access/index.js';
import type { AuditLog } from '../../audit/index.js';
import type { CatalogStore } from '../../catalog/index.js';
import type { Config } from '../../config/index.js';
import type { ConsoleService } from '../../consoles/index.js';
import type { ConsoleSessionRow } from '../../db/index.js';
import { Readable } from 'node:stream';
import { invalidInput, SallyportError } from '../../errors.js';
import type { Identity } from '../../identity/index.js';
import { sessionIdFrom } from '../session.js';

function sessionJson(s: ConsoleSessionRow) {
  return {
    id: s.id,
    username: s.username,
    target: s.target,
    image: s.image,
    imageId: s.image_id,
    command: s.command,
    startedAt: s.started_at,
    endedAt: s.ended_at,
    durationSeconds: s.ended_at ? (s.ended_at.getTime() - s.started_at.getTime()) / 1000 : null,
    endReason: s.end_reason,
    exitCode: s.exit_code,
    bytesOut: Number(s.bytes_out),
    bytesIn: Number(s.bytes_in),
    recording: s.sha256 ? { sha256: s.sha256, bytes: Number(s.size_bytes) } : null,
  };
}

const idParams = { type: 'object', properties: { id: { type: 'string', format: 'uuid' } }, required: ['id'], additionalProperties: false } as const;

export interface ApiServices {
  identity: Identity;
  catalog: CatalogStore;
  consoles: ConsoleService;
  access: AccessRequests;
  audit: AuditLog;
}

export function apiRoutes(app: FastifyInstance, config: Config, services: ApiServices): void {
  const { identity, catalog, consoles, access, audit } = services;
  app.register(async (api) => {
    api.addHook('preHandler', async (request) => {
      if (!request.principal) throw new SallyportError('UNAUTHENTICATED', 'log in first');
    });

    api.get('/api/me', async (request) => {
      const p = request.principal!;
      const targets = usableTargets(p, catalog.current());
      // Grants that would open a console now, so the home page can offer Open console.
      const grants = targets.some((t) => t.approval.required) ? (await access.list(p, 'mine')).filter((r) => r.opensConsole.ok) : [];
      return {
        user: {
          username: p.username,
          displayName: p.displayName,
          email: p.email,
          groups: p.groups,
          roles: p.roles,
        },
        targets: targets.map((t) => {
          const grant = grants.find((g) => g.target === t.name);
          return {
            name: t.name,
            description: t.description,
            image: t.image,
            command: t.command,
            approvalRequired: t.approval.required,
            approval: t.approval.required
              ? { maxDurationSeconds: t.approval.maxDuration, ticketPattern: t.approval.ticketPattern ?? null, approvals: t.approval.approvals }
              : null,
            grant: grant ? { id: grant.id, expiresAt: grant.expiresAt, sessionsLeft: grant.maxSessions === null ? null : grant.maxSessions - grant.sessionsUsed } : null,
          };
        }),
        csrfToken: identity.csrfToken(sessionIdFrom(request, config)!),
      };
    });

    api.get('/api/sessions', async (request) => ({ sessions: (await consoles.list(request.principal!)).map(sessionJson) }));

    api.get<{ Params: { id: string } }>('/api/sessions/:id', { schema: { params: idParams } }, async (request) =>
      sessionJson(await consoles.get(request.principal!, request.params.id)),
    );

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

    // The evidence bundle: an audited download, streamed (the recording is never held whole).
    api.get<{ Params: { id: string } }>('/api/sessions/:id/bundle', { schema: { params: idParams } }, async (request, reply) => {
      const { name, stream } = await consoles.evidenceBundle(request.principal!, request.params.id);
      reply.type('application/x-tar').header('content-disposition', `attachment; filename="${name}"`).header('cache-control', 'private, no-store');
      return reply.send(Readable.from(stream));
    });

    api.get<{ Params: { id: string } }>('/api/sessions/:id/index', { schema: { params: idParams } }, async (request, reply) => {
      reply.header('cache-control', 'private, no-store');
      return consoles.replayIndex(request.principal!, request.params.id);
    });

    api.get<{ Params: { id: string }; Querystring: { from: number; to: number } }>(
      '/api/sessions/:id/chunks',
      {
        schema: {
          params: idParams,
          querystring: {
            type: 'object',
            properties: { from: { type: 'integer', minimum: 1 }, to: { type: 'integer', minimum: 1 } },
            required: ['from', 'to'],
            additionalProperties: false,
          },
        },
      },
      async (request, reply) => {
        const { from, to } = request.query;
        if (to < from) throw invalidInput([{ field: 'to', message: 'must not be less than from' }]);
        const chunks = await consoles.replayChunks(request.principal!, request.params.id, from, to);
        reply.type('application/x-ndjson').header('cache-control', 'private, max-age=3600');
        return reply.send(Buffer.concat(chunks));
      },
    );

    api.get<{ Params: { id: string; n: number } }>(
      '/api/sessions/:id/keyframes/:n',
      {
        schema: {
          params: {
            type: 'object',
            properties: { id: { type: 'string', format: 'uuid' }, n: { type: 'integer', minimum: 0 } },
            required: ['id', 'n'],
            additionalProperties: false,
          },
        },
      },
      async (request, reply) => {
        reply.header('cache-control', 'private, max-age=3600');
        return consoles.keyframe(request.principal!, request.params.id, request.params.n);
      },
    );

    api.get<{ Params: { id: string } }>('/api/sessions/:id/commands', { schema: { params: idParams } }, async (request) => ({
      reconstructed: 'from recorded input; characters typed without echo are masked (•)',
      commands: await consoles.commands(request.principal!, request.params.id),
    }));

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
          results: await consoles.search(request.principal!, {
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

    api.get('/api/live', async (request) => ({ sessions: consoles.liveSessions(request.principal!) }));

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

    // Streamed chunk by chunk from PostgreSQL: a long recording is never held in memory.
    api.get<{ Params: { id: string } }>('/api/sessions/:id/recording', { schema: { params: idParams } }, async (request, reply) => {
      const chunks = await consoles.recording(request.principal!, request.params.id);
      reply
        .type('application/x-asciicast')
        .header('content-disposition', `attachment; filename="sallyport-${request.params.id}.cast"`)
        .header('cache-control', 'private, no-store');
      return reply.send(Readable.from(chunks));
    });
  });
}
