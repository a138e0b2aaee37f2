// GET /api/search: words on screen and typed commands across the recordings a user may see.
import type { FastifyInstance } from 'fastify';
import { SallyportError } from '../../errors.js';
import { createRateLimiter } from '../../rate-limit.js';
import type { Recordings } from '../../replay/index.js';

/** Searches one broker runs at once (each may scan much text), and one user's at once. */
const SEARCHES_AT_ONCE = 4;
const SEARCHES_PER_USER_AT_ONCE = 2;
/** A user's searches a minute, after a burst (a person types a handful; the web app polls while indexing). */
const SEARCHES_PER_MINUTE = 120;

export function searchRoutes(api: FastifyInstance, recordings: Recordings): void {
  const perUser = createRateLimiter({ perMinute: SEARCHES_PER_MINUTE, burst: 60 });
  const running = new Map<string, number>();
  let total = 0;
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
      const who = request.principal!.userId;
      if (total >= SEARCHES_AT_ONCE || (running.get(who) ?? 0) >= SEARCHES_PER_USER_AT_ONCE) {
        throw new SallyportError('LIMIT_REACHED', 'too many searches running at once; try again when one has finished');
      }
      if (!perUser.take(who)) throw new SallyportError('LIMIT_REACHED', `at most ${SEARCHES_PER_MINUTE} searches a minute; try again shortly`);
      total++;
      running.set(who, (running.get(who) ?? 0) + 1);
      try {
        const results = await recordings.search(request.principal!, {
          q,
          username: user || undefined,
          target: target || undefined,
          from: from ? new Date(from) : undefined,
          to: to ? new Date(to) : undefined,
          approvedOnly: approved === 'true',
          grantId: grant,
        });
        return { results };
      } finally {
        total--;
        const left = running.get(who)! - 1;
        if (left > 0) running.set(who, left);
        else running.delete(who);
      }
    },
  );
}
