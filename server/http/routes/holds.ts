// Legal holds on recordings, for auditors: place one (retention then keeps the recording) and
// release it. Who may is decided by retention/ through access/, never here.
import type { FastifyInstance } from 'fastify';
import type { Retention } from '../../retention/index.js';
import { invalidInput } from '../../errors.js';
import { idParams } from './sessions.js';

const reasonBody = {
  type: 'object',
  properties: { reason: { type: 'string', maxLength: 500 }, csrf: { type: 'string', maxLength: 200 } },
  required: ['reason'],
  additionalProperties: false,
} as const;

function reasonOf(body: { reason: string }, what: string): string {
  const reason = body.reason.trim();
  if (!reason) throw invalidInput([{ field: 'reason', message: `must say why the ${what} (a case or matter reference, say)` }]);
  return reason;
}

function holdJson(h: { reason: string; held_by_username: string; held_at: Date }) {
  return { reason: h.reason, heldBy: h.held_by_username, heldSince: h.held_at };
}

export function holdRoutes(api: FastifyInstance, retention: Retention): void {
  api.post<{ Params: { id: string }; Body: { reason: string } }>('/api/sessions/:id/hold', { schema: { params: idParams, body: reasonBody } }, async (request) =>
    holdJson(await retention.hold(request.principal!, request.params.id, reasonOf(request.body, 'recording is held'))),
  );
  api.post<{ Params: { id: string }; Body: { reason: string } }>('/api/sessions/:id/hold/release', { schema: { params: idParams, body: reasonBody } }, async (request) => {
    await retention.release(request.principal!, request.params.id, reasonOf(request.body, 'hold is released'));
    return { released: request.params.id };
  });
}
