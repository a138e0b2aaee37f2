// JSON API for the web app: one hook requires a live session for the whole subtree, then one
// route file per resource. What a user may see is decided by access/, never here.
import type { FastifyInstance } from 'fastify';
import type { AccessRequests } from '../../access/index.js';
import type { AuditLog } from '../../audit/index.js';
import type { CatalogStore } from '../../catalog/index.js';
import type { Config } from '../../config/index.js';
import type { ConsoleService, FleetView } from '../../consoles/index.js';
import { SallyportError } from '../../errors.js';
import type { Recordings } from '../../replay/index.js';
import type { Retention } from '../../retention/index.js';
import type { Csrf } from '../csrf.js';
import { auditRoutes } from './audit.js';
import { fleetRoutes } from './fleet.js';
import { holdRoutes } from './holds.js';
import { liveRoutes } from './live.js';
import { meRoutes } from './me.js';
import { searchRoutes } from './search.js';
import { sessionRoutes } from './sessions.js';
import type { SshDoorInfo } from './ssh-logins.js';

export interface ApiServices {
  csrf: Csrf;
  catalog: CatalogStore;
  consoles: ConsoleService;
  recordings: Recordings;
  retention: Retention;
  access: AccessRequests;
  audit: AuditLog;
  fleet: FleetView;
  sshDoor: SshDoorInfo;
}

export function apiRoutes(app: FastifyInstance, config: Config, services: ApiServices): void {
  app.register(async (api) => {
    api.addHook('preHandler', async (request) => {
      if (!request.principal) throw new SallyportError('UNAUTHENTICATED', 'log in first');
    });
    meRoutes(api, config, services);
    sessionRoutes(api, services.recordings);
    holdRoutes(api, services.retention);
    searchRoutes(api, services.recordings);
    auditRoutes(api, services.audit);
    liveRoutes(api, services.consoles);
    fleetRoutes(api, services.fleet);
  });
}
