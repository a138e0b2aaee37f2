// GET /metrics for Prometheus. Off unless SALLYPORT_METRICS_TOKEN is set, and then only with
// that bearer token: the figures name targets and show who is busy when, which is not public.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Config } from '../../config/index.js';
import { SallyportError } from '../../errors.js';

/** The part of a prom-client registry the route needs. */
export interface MetricsRegistry {
  readonly contentType: string;
  metrics(): Promise<string>;
}

export function metricsRoutes(app: FastifyInstance, config: Config, registry: MetricsRegistry): void {
  const token = config.metrics.token;
  // Compared as digests: equal length, constant time, whatever the caller sends.
  const digest = (s: string) => createHash('sha256').update(s).digest();
  const expected = token === undefined ? undefined : digest(token);
  app.get('/metrics', { logLevel: 'warn' }, async (request, reply) => {
    if (!expected) throw new SallyportError('NOT_FOUND', 'metrics are off: set SALLYPORT_METRICS_TOKEN to serve them');
    const m = /^Bearer (\S+)$/.exec(request.headers.authorization ?? '');
    if (!m || !timingSafeEqual(digest(m[1]!), expected)) {
      reply.header('www-authenticate', 'Bearer realm="sallyport metrics"');
      throw new SallyportError('UNAUTHENTICATED', 'metrics need the bearer token (SALLYPORT_METRICS_TOKEN)');
    }
    reply.header('cache-control', 'no-store').type(registry.contentType);
    return registry.metrics();
  });
}
