// Access decisions: every authorisation rule in Sallyport, as pure functions of a Principal and
// the catalogue. Front doors and services ask; they never decide. Deny by default.
import type { Catalog, Target } from '../catalog/index.js';
import type { Role } from '../config/index.js';
import { SallyportError } from '../errors.js';
import type { Principal } from '../identity/principal.js';

export function hasRole(p: Principal, role: Role): boolean {
  return p.roles.includes(role);
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
 * May this principal open a console on this target at all? Throws ACCESS_DENIED. For
 * approval-gated targets a live grant is needed as well: AccessRequests.admitConsole asks both.
 */
export function authorizeConsole(p: Principal, target: Target): void {
  requireFullScope(p, 'opening a console');
  if (!mayUseTarget(p, target)) throw new SallyportError('ACCESS_DENIED', `you may not open consoles on ${target.name}`);
}

/**
 * A command-line login scoped to the admin and audit API (the default for `sallyport admin
 * login`) may list, terminate, revoke and read the audit log, and nothing else: a phished token
 * opens no console, asks for and approves no access. Throws ACCESS_DENIED.
 */
export function requireFullScope(p: Principal, what: string): void {
  if (p.scope === 'admin') {
    throw new SallyportError('ACCESS_DENIED', `${what} needs a full login: this command-line login is scoped to the admin and audit API (sallyport admin login --scope full)`);
  }
}

/** Auditors and admins see every console session; everyone else only their own. */
export function maySeeAllSessions(p: Principal): boolean {
  return hasRole(p, 'auditor') || hasRole(p, 'admin');
}

export function maySeeSession(p: Principal, ownerUserId: string): boolean {
  return p.userId === ownerUserId || maySeeAllSessions(p);
}

/** The audit log is for auditors and admins. Throws ACCESS_DENIED. */
export function authorizeAuditRead(p: Principal): void {
  if (!hasRole(p, 'auditor') && !hasRole(p, 'admin')) throw new SallyportError('ACCESS_DENIED', 'the audit log needs the auditor or admin role');
}

/**
 * Placing and releasing a legal hold on a recording is for auditors and admins (a command-line
 * login scoped to the admin and audit API may: holds belong to the audit API). Throws ACCESS_DENIED.
 */
export function authorizeLegalHold(p: Principal): void {
  if (!hasRole(p, 'auditor') && !hasRole(p, 'admin')) throw new SallyportError('ACCESS_DENIED', 'a legal hold needs the auditor or admin role');
}

/** Listing, watching and terminating live sessions is for admins. Throws ACCESS_DENIED. */
export function authorizeLiveControl(p: Principal): void {
  if (!hasRole(p, 'admin')) throw new SallyportError('ACCESS_DENIED', 'watching and terminating live sessions needs the admin role');
}

/**
 * Watching one live console: admins any, and its own user theirs (the choice a second window of
 * theirs gets instead of a second writer). Throws ACCESS_DENIED.
 */
export function authorizeWatch(p: Principal, ownerUserId: string): void {
  if (p.userId !== ownerUserId && !hasRole(p, 'admin')) throw new SallyportError('ACCESS_DENIED', 'watching a live console needs the admin role, unless it is your own');
}

/** May this principal ask for just-in-time access to the target? */
export function mayRequestAccess(p: Principal, target: Target): boolean {
  if (!target.approval.required || !hasRole(p, 'developer')) return false;
  const groups = target.approval.requesters ?? target.allow.groups;
  return groups.some((g) => p.groups.includes(g)) && target.allow.groups.some((g) => p.groups.includes(g));
}

/**
 * May `approver` decide a request made by the user with `requesterUserId`? Never their own
 * (identity is the user id from (issuer, subject), so a different spelling of the name cannot
 * help); only with the approver role and membership in one of the target's approver groups.
 */
export function mayApprove(approver: Principal, target: Target, requesterUserId: string): boolean {
  if (approver.userId === requesterUserId) return false;
  if (!hasRole(approver, 'approver') && !hasRole(approver, 'admin')) return false;
  return (target.approval.approvers ?? []).some((g) => approver.groups.includes(g));
}

/**
 * Deciding or revoking needs a login the IdP performed at most `maxAgeSeconds` ago; otherwise
 * REAUTH_REQUIRED, and the front door sends the user through a max_age login.
 */
export function requireRecentLogin(p: Principal, maxAgeSeconds: number, now = new Date()): void {
  const age = (now.getTime() - p.authTime.getTime()) / 1000;
  if (!(age <= maxAgeSeconds)) {
    const minutes = Math.round(age / 60);
    const when = minutes < 1 ? 'less than a minute' : minutes === 1 ? '1 minute' : `${minutes} minutes`;
    throw new SallyportError('REAUTH_REQUIRED', `this needs a fresh sign-in (within ${Math.round(maxAgeSeconds / 60) || 1} minutes; your last one was ${when} ago): sign in again to confirm it is you`);
  }
}

/** Caps on live consoles: what one user, one target and everyone together may have open. */
export interface ConsoleCaps {
  maxPerUser: number;
  maxTotal: number;
}

/** LIMIT_REACHED naming the cap that is full, or nothing. */
export function checkConsoleCaps(counts: { user: number; target: number; total: number }, caps: ConsoleCaps, target: Target): void {
  if (counts.user >= caps.maxPerUser) {
    throw new SallyportError('LIMIT_REACHED', `you already have ${counts.user} consoles open, the most one user may (SALLYPORT_MAX_CONSOLES_PER_USER=${caps.maxPerUser}); close one first`);
  }
  if (target.limits.maxConsoles !== undefined && counts.target >= target.limits.maxConsoles) {
    throw new SallyportError('LIMIT_REACHED', `${target.name} already has ${counts.target} consoles open, its limit (limits.maxConsoles=${target.limits.maxConsoles}); try again later`);
  }
  if (counts.total >= caps.maxTotal) {
    throw new SallyportError('LIMIT_REACHED', `${counts.total} consoles are open, the most Sallyport allows (SALLYPORT_MAX_CONSOLES=${caps.maxTotal}); try again later`);
  }
}

/** Is a request from this principal approved at once by the target's on-call rule? */
export function isAutoApproved(p: Principal, target: Target): boolean {
  return (target.approval.autoApprove ?? []).some((g) => p.groups.includes(g));
}

/** Checks a request's reason and duration against the target's policy; returns field problems. */
export function checkAccessRequest(target: Target, req: { reason: string; durationSeconds: number }): { field: string; message: string }[] {
  const problems: { field: string; message: string }[] = [];
  const reason = req.reason.trim();
  if (reason.length === 0) problems.push({ field: 'reason', message: 'must not be empty' });
  if (reason.length > 2000) problems.push({ field: 'reason', message: 'must be at most 2000 characters' });
  const pattern = target.approval.ticketPattern;
  if (pattern && !new RegExp(pattern, 'u').test(reason)) {
    problems.push({ field: 'reason', message: `must reference a ticket matching ${pattern}` });
  }
  if (!Number.isInteger(req.durationSeconds) || req.durationSeconds < 60) {
    problems.push({ field: 'durationSeconds', message: 'must be at least 60 seconds' });
  } else if (req.durationSeconds > target.approval.maxDuration) {
    problems.push({ field: 'durationSeconds', message: `must be at most ${target.approval.maxDuration} seconds for ${target.name}` });
  }
  return problems;
}
