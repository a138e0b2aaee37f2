// Recorded sessions: list, one, download, evidence bundle, the player's index, chunks and
// keyframes, the command timeline. Who may see what is decided by replay/recordings (access/).
import type { FastifyInstance } from 'fastify';
import { Readable } from 'node:stream';
import type { ConsoleSessionRow } from '../../db/index.js';
import { invalidInput } from '../../errors.js';
import type { Recordings } from '../../replay/index.js';

function sessionJson(s: ConsoleSessionRow) {
  return {
    id: s.id,
    username: s.username,
    target: s.target,
    via: s.via,
    clientAddress: s.client_address,
    clientVersion: s.client_version,
    node: s.node,
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
    recording: s.sha256 ? { sha256: s.sha256, bytes: Number(s.size_bytes), truncated: s.truncated } : null,
  };
}

export const idParams = { type: 'object', properties: { id: { type: 'string', format: 'uuid' } }, required: ['id'], additionalProperties: false } as const;

export function sessionRoutes(api: FastifyInstance, recordings: Recordings): void {
  api.get('/api/sessions', async (request) => ({ sessions: (await recordings.list(request.principal!)).map(sessionJson) }));

  api.get<{ Params: { id: string } }>('/api/sessions/:id', { schema: { params: idParams } }, async (request) =>
    sessionJson(await recordings.get(request.principal!, request.params.id)),
  );

  // The evidence bundle: an audited download, streamed (the recording is never held whole).
  api.get<{ Params: { id: string } }>('/api/sessions/:id/bundle', { schema: { params: idParams } }, async (request, reply) => {
    const { name, stream } = await recordings.evidenceBundle(request.principal!, request.params.id);
    reply.type('application/x-tar').header('content-disposition', `attachment; filename="${name}"`).header('cache-control', 'private, no-store');
    return reply.send(Readable.from(stream));
  });

  api.get<{ Params: { id: string } }>('/api/sessions/:id/index', { schema: { params: idParams } }, async (request, reply) => {
    reply.header('cache-control', 'private, no-store');
    return recordings.replayIndex(request.principal!, request.params.id);
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
      const chunks = await recordings.replayChunks(request.principal!, request.params.id, from, to);
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
      return recordings.keyframe(request.principal!, request.params.id, request.params.n);
    },
  );

  api.get<{ Params: { id: string } }>('/api/sessions/:id/commands', { schema: { params: idParams } }, async (request) => ({
    reconstructed: 'from recorded input; characters typed without echo are masked (•)',
    commands: await recordings.commands(request.principal!, request.params.id),
  }));

  // Streamed chunk by chunk from PostgreSQL: a long recording is never held in memory.
  api.get<{ Params: { id: string } }>('/api/sessions/:id/recording', { schema: { params: idParams } }, async (request, reply) => {
    const chunks = await recordings.recording(request.principal!, request.params.id);
    reply
      .type('application/x-asciicast')
      .header('content-disposition', `attachment; filename="sallyport-${request.params.id}.cast"`)
      .header('cache-control', 'private, no-store');
    return reply.send(Readable.from(chunks));
  });
}
