// Recorded sessions: list, one, download, evidence bundle, the player's index, chunks and
// keyframes, the command timeline. Who may see what is decided by replay/recordings (access/).
import type { FastifyInstance } from 'fastify';
import { Readable } from 'node:stream';
import type { ConsoleSessionRow } from '../../db/index.js';
import { endedBy, isQuietInput } from '../../consoles/index.js';
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
    endCode: s.end_code,
    endedBy: endedBy(s.end_code, s.terminate_by),
    approved: s.grant_id !== null,
    exitCode: s.exit_code,
    bytesOut: Number(s.bytes_out),
    bytesIn: Number(s.bytes_in),
    maskedInputChars: s.masked_input_chars,
    quietInput: isQuietInput(s.masked_input_chars),
    recording: s.sha256 ? { sha256: s.sha256, bytes: Number(s.size_bytes), truncated: s.truncated, expiredAt: s.expired_at, heldSince: s.held_at } : null,
  };
}

interface SessionsQuery {
  user?: string;
  target?: string;
  from?: string;
  to?: string;
  approved?: 'yes' | 'no';
  via?: 'web' | 'ssh';
  state?: 'live' | 'ended';
  before?: string;
  limit?: number;
}

const sessionsQuery = {
  type: 'object',
  properties: {
    user: { type: 'string', minLength: 1, maxLength: 128 },
    target: { type: 'string', minLength: 1, maxLength: 128 },
    from: { type: 'string', minLength: 10, maxLength: 40 },
    to: { type: 'string', minLength: 10, maxLength: 40 },
    approved: { type: 'string', enum: ['yes', 'no'] },
    via: { type: 'string', enum: ['web', 'ssh'] },
    state: { type: 'string', enum: ['live', 'ended'] },
    before: { type: 'string', minLength: 1, maxLength: 100 },
    limit: { type: 'integer', minimum: 1, maximum: 200 },
  },
  additionalProperties: false,
} as const;

// The next page starts after the last row shown: its start time (to the microsecond the
// database keeps, so rows in the same millisecond are not skipped) and id, as one opaque token.
function encodeCursor(s: ConsoleSessionRow): string {
  return Buffer.from(`${s.started_at_us}|${s.id}`).toString('base64url');
}

function decodeCursor(token: string): { startedAt: string; id: string } {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z)\|([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/.exec(Buffer.from(token, 'base64url').toString());
  // Checked whole here, so the database is never handed a time or id it would refuse.
  const at = m ? Date.parse(m[1]!) : NaN;
  // A date that rolls over (Feb 30th) parses here but not in PostgreSQL: it must read back the same.
  if (!m || Number.isNaN(at) || new Date(at).toISOString().slice(0, 19) !== m[1]!.slice(0, 19)) throw invalidInput([{ field: 'before', message: 'is not a page token this broker gave' }]);
  return { startedAt: m[1]!, id: m[2]! };
}

export const idParams = { type: 'object', properties: { id: { type: 'string', format: 'uuid' } }, required: ['id'], additionalProperties: false } as const;

export function sessionRoutes(api: FastifyInstance, recordings: Recordings): void {
  api.get<{ Querystring: SessionsQuery }>('/api/sessions', { schema: { querystring: sessionsQuery } }, async (request) => {
    const q = request.query;
    const limit = q.limit ?? 50;
    const range = (field: 'from' | 'to') => {
      const v = q[field];
      if (v === undefined) return undefined;
      const d = new Date(v);
      const bare = /^\d{4}-\d{2}-\d{2}$/.test(v);
      // A day that does not exist (Feb 30th) would roll over into March: refused, not guessed.
      if (Number.isNaN(d.getTime()) || (bare && d.toISOString().slice(0, 10) !== v)) {
        throw invalidInput([{ field, message: 'must be a date (YYYY-MM-DD) or an ISO 8601 time' }]);
      }
      // A bare date means the whole day: "to 2026-12-03" includes the 3rd.
      if (field === 'to' && bare) d.setUTCDate(d.getUTCDate() + 1);
      return d;
    };
    // One more than a page tells whether there is a next one without counting.
    const rows = await recordings.list(request.principal!, {
      username: q.user,
      target: q.target,
      startedFrom: range('from'),
      startedTo: range('to'),
      approved: q.approved === undefined ? undefined : q.approved === 'yes',
      via: q.via,
      live: q.state === undefined ? undefined : q.state === 'live',
      before: q.before === undefined ? undefined : decodeCursor(q.before),
      limit: limit + 1,
    });
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    return { sessions: page.map(sessionJson), next: rows.length > limit && last ? encodeCursor(last) : null };
  });

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
