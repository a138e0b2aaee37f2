// JSON API for the web app. Every route below requires a live session (one hook for the whole
// subtree); what a user may see is decided by access/, never here.
import type { FastifyInstance } from 'fastify';
import { usableTargets } from '../../access/index.js';
import type { CatalogStore } from '../../catalog/index.js';
import type { Config } from '../../config/index.js';
import { SallyportError } from '../../errors.js';
import type { Identity } from '../../identity/index.js';
import { sessionIdFrom } from '../session.js';

export function apiRoutes(app: FastifyInstance, config: Config, identity: Identity, catalog: CatalogStore): void {
  app.register(async (api) => {
    api.addHook('preHandler', async (request) => {
      if (!request.principal) throw new SallyportError('UNAUTHENTICATED', 'log in first');
    });

    api.get('/api/me', async (request) => {
      const p = request.principal!;
      return {
        user: {
          username: p.username,
          displayName: p.displayName,
          email: p.email,
          groups: p.groups,
          roles: p.roles,
        },
        targets: usableTargets(p, catalog.current()).map((t) => ({
          name: t.name,
          description: t.description,
          image: t.image,
          command: t.command,
          approvalRequired: t.approval.required,
        })),
        csrfToken: identity.csrfToken(sessionIdFrom(request, config)!),
      };
    });
  });
}
