// Probes: /healthz answers while the process runs; /readyz only when the database answers and
// every migration is applied, so a load balancer never sends users to a half-ready broker.
import type { FastifyInstance } from 'fastify';

export interface Readiness {
  /** `warnings`: ready, but an operator should look (a skewed clock, a refused checkpoint). */
  check(): Promise<{ ready: true; warnings?: string[] } | { ready: false; reason: string }>;
}

export function healthRoutes(app: FastifyInstance, readiness: Readiness): void {
  // Probed every few seconds by load balancers and orchestrators: not worth a log line each.
  app.get('/healthz', { logLevel: 'warn' }, async () => ({ status: 'ok' }));
  app.get('/readyz', { logLevel: 'warn' }, async (_request, reply) => {
    const result = await readiness.check();
    if (result.ready) return result.warnings?.length ? { status: 'ready', warnings: result.warnings } : { status: 'ready' };
    return reply.status(503).send({ status: 'not_ready', reason: result.reason });
  });
}
