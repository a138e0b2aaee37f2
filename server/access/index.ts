// The access layer: every authorisation decision in Sallyport is made here, from a Principal
// and the catalogue, and nowhere else. Front doors ask; they never decide. Deny by default.
import type { Catalog, Target } from '../catalog/index.js';
import type { Role } from '../config/index.js';
import { SallyportError } from '../errors.js';

/** Who is asking, as established by identity (a live browser session, later an SSH certificate). */
export interface Principal {
  readonly userId: string;
  readonly issuer: string;
  readonly subject: string;
  readonly username: string;
  readonly displayName: string | null;
  readonly email: string | null;
  readonly groups: readonly string[];
  readonly roles: readonly Role[];
  readonly authTime: Date;
}

export function hasRole(p: Principal, role: Role): boolean {
  return p.roles.includes(role);
}

/** Throws ACCESS_DENIED unless the principal holds one of the roles. */
export function requireRole(p: Principal, ...roles: Role[]): void {
  if (!roles.some((r) => p.roles.includes(r))) {
    throw new SallyportError('ACCESS_DENIED', `requires the ${roles.join(' or ')} role`);
  }
}

/**
 * A target is usable by someone who holds the developer role and belongs to at least one of
 * the target's allowed groups. Auditors, approvers and admins do not get consoles by role alone.
 */
export function mayUseTarget(p: Principal, target: Target): boolean {
  return hasRole(p, 'developer') && target.allow.groups.some((g) => p.groups.includes(g));
}

export function usableTargets(p: Principal, catalog: Catalog): Target[] {
  return catalog.targets.filter((t) => mayUseTarget(p, t));
}

/**
 * May this principal open a console on this target now? Throws ACCESS_DENIED or
 * APPROVAL_REQUIRED. Approval-gated targets stay closed until just-in-time grants exist.
 */
export function authorizeConsole(p: Principal, target: Target): void {
  if (!mayUseTarget(p, target)) throw new SallyportError('ACCESS_DENIED', `you may not open consoles on ${target.name}`);
  if (target.approval.required) {
    throw new SallyportError('APPROVAL_REQUIRED', `${target.name} needs an approved access request first`);
  }
}

/** Auditors and admins see every console session; everyone else only their own. */
export function maySeeAllSessions(p: Principal): boolean {
  return hasRole(p, 'auditor') || hasRole(p, 'admin');
}

export function maySeeSession(p: Principal, ownerUserId: string): boolean {
  return p.userId === ownerUserId || maySeeAllSessions(p);
}
