// The HTTP front door as a fastify app: plugins, security, session auth and routes. It holds
// no policy; it adapts requests to the services it is given. Listening is main.ts's job.
import { randomUUID } from 'node:crypto';
import fastifyCookie from '@fastify/cookie';
import fastifyFormbody from '@fastify/formbody';
import fastifyWebsocket from '@fastify/websocket';
import Fastify, { type FastifyInstance } from 'fastify';
import type { AccessRequests } from '../access/index.js';
import type { AuditLog } from '../audit/index.js';
import type { Checkpointer } from '../audit/index.js';
import type { Signer } from '../signing/index.js';
import { invalidInput, SallyportError } from '../errors.js';
import type { CatalogStore } from '../catalog/index.js';
import type { Config } from '../config/index.js';
import type { ConsoleService, FleetView } from '../consoles/index.js';
import type { CliLogins, Identity, SshLogins } from '../identity/index.js';
import type { Recordings } from '../replay/index.js';
import type { Retention } from '../retention/index.js';
import { createCsrf } from './csrf.js';
import { errorHandler, notFoundPage } from './errors.js';
import { accessRoutes } from './routes/access.js';
import { apiRoutes } from './routes/api.js';
import { authRoutes } from './routes/auth.js';
import { MAX_FRAME_BYTES } from './console-wire.js';
import { consoleWsRoutes } from './routes/console-ws.js';
import { healthRoutes, type Readiness } from './routes/health.js';
import { metricsRoutes, type MetricsRegistry } from './routes/metrics.js';
import { webRoutes } from './routes/web.js';
import { sshLoginRoutes, type SshDoorInfo } from './routes/ssh-logins.js';
import { cliLoginRoutes } from './routes/cli-logins.js';
import { registerSecurity } from './security.js';
import { registerSessionAuth } from './session.js';

export interface AppServices {
  identity: Identity;
  catalog: CatalogStore;
  readiness: Readiness;
  consoles: ConsoleService;
  recordings: Recordings;
  retention: Retention;
  access: AccessRequests;
  audit: AuditLog;
  signer: Signer;
  checkpointer: Checkpointer;
  fleet: FleetView;
  sshLogins: SshLogins;
  cliLogins: CliLogins;
  sshDoor: SshDoorInfo;
  metrics: MetricsRegistry;
}

export async function buildApp(config: Config, services: AppServices, options: { webDir: string }): Promise<FastifyInstance> {
  const app = Fastify({
    logger: {
      level: config.logLevel,
      serializers: {
        // Never log query strings: the OIDC callback carries the authorization code.
        // Nor an SSH login link's token, which is in its path.
        req: (req: { method: string; url: string; id: string }) => ({ id: req.id, method: req.method, path: loggedPath(req.url) }),
      },
    },
    bodyLimit: 64 * 1024,
    // Request ids are random, or the caller's X-Request-Id when it is a plain token (a proxy's
    // id ties its logs to ours); anything else is replaced, so nothing is injected into a log.
    requestIdHeader: false,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    // Unknown fields are an error, not silently dropped: a typo must not pass as success.
    ajv: { customOptions: { removeAdditional: false, allErrors: true } },
    // Only the configured proxies' X-Forwarded-For is believed (fastify's proxy-addr: the nearest
    // untrusted hop is the client); without any, a header anyone can send is ignored.
    trustProxy: config.trustedProxies.length ? [...config.trustedProxies] : false,
  });
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  // A NUL byte has no place in any field, and PostgreSQL refuses it in text: one check for every
  // route's query, path and body, naming the field, instead of a 500 where the database says so.
  app.addHook('preValidation', async (request) => {
    const where = findNul({ query: request.query, params: request.params, body: request.body });
    if (where) throw invalidInput([{ field: where, message: 'must not contain a NUL byte (\\u0000)' }]);
  });
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0]!;
    // A browser navigating to a page nobody serves reads a page; an API client gets JSON.
    if (request.method === 'GET' && !path.startsWith('/api/') && /text\/html/.test(request.headers.accept ?? '')) {
      return reply.status(404).type('text/html; charset=utf-8').send(notFoundPage(path));
    }
    return reply.status(404).send({ error: { code: 'NOT_FOUND', message: `no route for ${request.method} ${path}` } });
  });
  await app.register(fastifyCookie);
  await app.register(fastifyFormbody, { bodyLimit: 16 * 1024 });
  await app.register(fastifyWebsocket, {
    options: { maxPayload: MAX_FRAME_BYTES },
    // Socket errors are usually the client's doing (oversized frame, abrupt disconnect):
    // note them at info level; the console route ends its session on 'error' itself.
    errorHandler: (error, socket, request) => {
      request.log.info({ code: (error as { code?: string }).code }, `websocket closed: ${error.message}`);
      socket.terminate();
    },
  });
  registerSessionAuth(app, config, services.identity);
  const csrf = createCsrf(config.session.secret, config.session.previousSecrets);
  registerSecurity(app, config, csrf);

  healthRoutes(app, services.readiness);
  metricsRoutes(app, config, services.metrics);
  // Public: anyone verifying evidence needs the broker's keys, and nothing else.
  // Public too: the newest signed chain head, so copies exist outside the database and a
  // rewrite is found even if every checkpoint row is deleted (`verify audit --checkpoints URL`).
  app.get('/.well-known/sallyport/checkpoint', async (_request, reply) => {
    const c = await services.checkpointer.latest();
    if (!c) throw new SallyportError('NOT_FOUND', 'no checkpoint signed yet');
    reply.header('cache-control', 'no-store');
    return { n: c.n, seq: c.seq, hash: c.hash, at: c.signed_at, kid: c.kid, jws: c.jws };
  });
  app.get('/.well-known/jwks.json', async (_request, reply) => {
    reply.header('cache-control', 'public, max-age=300').type('application/jwk-set+json');
    return services.signer.jwks();
  });
  // Public: what fleet nodes trust (TrustedUserCAKeys), the current CA first, then earlier ones
  // still trusted during a rotation.
  app.get('/.well-known/sallyport/ssh-ca.pub', async (_request, reply) => {
    if (config.fleet.ca.publicKeys.length === 0) throw new SallyportError('NOT_FOUND', 'this broker has no SSH CA (SALLYPORT_SSH_CA_KEY is not set)');
    reply.header('cache-control', 'public, max-age=300').type('text/plain; charset=utf-8');
    return `${config.fleet.ca.publicKeys.join('\n')}\n`;
  });
  authRoutes(app, config, services.identity);
  apiRoutes(app, config, { ...services, csrf });
  accessRoutes(app, services.access);
  sshLoginRoutes(app, services.sshLogins, services.sshDoor);
  cliLoginRoutes(app, config, services);
  consoleWsRoutes(app, config, services.consoles);
  await webRoutes(app, options.webDir);
  return app;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{8,128}$/;

/** The first field (`query.q`, `body.comment`) holding a NUL byte, or null; nested values too. */
function findNul(value: unknown, path = ''): string | null {
  if (typeof value === 'string') return value.includes('\0') ? path : null;
  if (value === null || typeof value !== 'object' || Buffer.isBuffer(value)) return null;
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (k.includes('\0')) return `${path}${path ? '.' : ''}${k.replace(/\0/g, '\\0')}`;
    const found = findNul(v, `${path}${path ? '.' : ''}${k}`);
    if (found) return found;
  }
  return null;
}

/** A request's path as logged: no query string, no login link's token. */
function loggedPath(url: string): string {
  return url.split('?')[0]!.replace(/^\/(ssh|cli|api\/ssh-logins|api\/cli-logins)\/[^/]+/, '/$1/[token]');
}
