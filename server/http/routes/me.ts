// GET /api/me: who the user is, the targets they may open now and their CSRF token.
import type { FastifyInstance } from 'fastify';
import { usableTargets, type AccessRequests } from '../../access/index.js';
import type { CatalogStore } from '../../catalog/index.js';
import type { Config } from '../../config/index.js';
import type { Csrf } from '../csrf.js';
import { credentialFrom } from '../session.js';
import type { SshDoorInfo } from './ssh-logins.js';

export function meRoutes(api: FastifyInstance, config: Config, s: { csrf: Csrf; catalog: CatalogStore; access: AccessRequests; sshDoor: SshDoorInfo }): void {
  const { csrf, catalog, access } = s;
  api.get('/api/me', async (request) => {
    const p = request.principal!;
    const targets = usableTargets(p, catalog.current());
    // Grants that would open a console now, so the home page can offer Open console.
    const grants = targets.some((t) => t.approval.required) ? (await access.list(p, 'mine')).filter((r) => r.opensConsole.ok) : [];
    return {
      user: {
        username: p.username,
        displayName: p.displayName,
        email: p.email,
        groups: p.groups,
        roles: p.roles,
      },
      targets: targets.map((t) => {
        const grant = grants.find((g) => g.target === t.name);
        return {
          name: t.name,
          description: t.description,
          image: t.image,
          command: t.command,
          runtime: t.runtime,
          /** Fleet nodes it runs on; empty = the broker's own engine. */
          nodes: t.placement,
          /** A plain process on a node is not a throwaway container: say so before it opens. */
          disposable: t.runtime !== 'ssh',
          approvalRequired: t.approval.required,
          approval: t.approval.required
            ? { maxDurationSeconds: t.approval.maxDuration, ticketPattern: t.approval.ticketPattern ?? null, approvals: t.approval.approvals }
            : null,
          grant: grant ? { id: grant.id, expiresAt: grant.expiresAt, sessionsLeft: grant.maxSessions === null ? null : grant.maxSessions - grant.sessionsUsed } : null,
        };
      }),
      ssh: sshCommand(config, s.sshDoor),
      csrfToken: csrf.token(credentialFrom(request, config)!),
    };
  });
}

/** `ssh -t -p PORT TARGET@HOST` (the port left out when it is 22), and the host key's fingerprint. */
function sshCommand(config: Config, door: SshDoorInfo): { command: string; fingerprint: string } | null {
  const d = door.current();
  if (!d) return null;
  const host = new URL(config.publicUrl).hostname;
  return { command: `ssh -t ${d.port === 22 ? '' : `-p ${d.port} `}TARGET@${host}`, fingerprint: d.fingerprint };
}
