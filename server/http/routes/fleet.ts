// GET /api/fleet (admins): the fleet nodes, reachability checked now, host key fingerprints and
// consoles per node. The access check is the fleet view's (access/), not this route's.
import type { FastifyInstance } from 'fastify';
import type { FleetView } from '../../consoles/index.js';

export function fleetRoutes(api: FastifyInstance, fleet: FleetView): void {
  api.get('/api/fleet', async (request) => ({ nodes: await fleet.status(request.principal!) }));
}
