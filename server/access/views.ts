// How access requests read to people: the list for each page (mine, to decide, active grants)
// and one request in full (decisions, who can approve, sessions it opened), each saying what
// the reader may do next and whether the grant would open a console now.
import type { Target } from '../catalog/index.js';
import { equalGrantInForce, getAccessRequest, grantSessions, listAccessDecisions, listAccessRequests, usersInGroups, type AccessRequestListRow, type AccessRequestRow } from '../db/index.js';
import { SallyportError } from '../errors.js';
import type { Principal } from '../identity/principal.js';
import { hasRole, mayApprove } from './policy.js';
import type { AccessRequests, AccessRequestsDeps, AccessRequestView } from './requests.js';

export function createRequestViews(deps: AccessRequestsDeps): Pick<AccessRequests, 'list' | 'get'> {
  const { db } = deps;
  const findTarget = (name: string): Target | undefined => deps.catalog.current().targets.find((t) => t.name === name);

  const maySeeRequest = (p: Principal, r: AccessRequestRow) =>
    r.requester_id === p.userId || hasRole(p, 'approver') || hasRole(p, 'admin') || hasRole(p, 'auditor');

  /** Would this grant open a console now? Approvals bind to the console as it was approved. */
  const opensConsole = (r: AccessRequestRow): AccessRequestView['opensConsole'] => {
    if (r.status !== 'approved') return { ok: false, why: `the request is ${r.status}` };
    if (r.expires_at && r.expires_at.getTime() <= Date.now()) return { ok: false, why: 'the grant has expired' };
    if (r.max_sessions !== null && r.sessions_used >= r.max_sessions) return { ok: false, why: `all ${r.max_sessions} session(s) of this grant are used` };
    const t = findTarget(r.target);
    if (!t) return { ok: false, why: `the target ${r.target} is no longer in the catalogue` };
    if (t.image !== r.image) return { ok: false, why: `the target's image changed since approval (approved ${r.image}, now ${t.image}); request access again` };
    if (t.placement.join(',') !== r.placement.join(',')) {
      const pool = (xs: readonly string[]) => (xs.length ? xs.join(', ') : "the broker's own engine");
      return { ok: false, why: `the target's nodes changed since approval (approved ${pool(r.placement)}, now ${pool(t.placement)}); request access again` };
    }
    if (t.command.join('\0') !== r.command.join('\0')) {
      return { ok: false, why: `the target's command changed since approval (approved "${r.command.join(' ')}", now "${t.command.join(' ')}"); request access again` };
    }
    return { ok: true, why: null };
  };

  const view = (p: Principal, r: AccessRequestListRow, alreadyDecided: boolean): AccessRequestView => {
    const t = findTarget(r.target);
    return {
      id: r.id,
      requester: r.requester_username,
      target: r.target,
      image: r.image,
      nodes: r.placement,
      command: r.command,
      reason: r.reason,
      durationSeconds: r.duration_seconds,
      approvalsNeeded: r.approvals_needed,
      maxSessions: r.max_sessions,
      sessionsUsed: r.sessions_used,
      status: r.status,
      statusReason: r.status_reason,
      createdAt: r.created_at,
      decidedAt: r.decided_at,
      expiresAt: r.expires_at,
      opensConsole: opensConsole(r),
      extends: r.extends_id,
      youMay: {
        // More time for one's own grant in force (one extension waiting at a time: the access layer says so).
        extend: r.status === 'approved' && r.requester_id === p.userId && r.expires_at !== null && r.expires_at.getTime() > Date.now(),
        decide: r.status === 'pending' && !alreadyDecided && t !== undefined && mayApprove(p, t, r.requester_id),
        withdraw: r.status === 'pending' && r.requester_id === p.userId,
        revoke: r.status === 'approved' && (hasRole(p, 'approver') || hasRole(p, 'admin')),
        handBack: r.status === 'approved' && r.requester_id === p.userId,
        // Only the requester's consoles use the grant: nobody else gets a button that can only fail.
        openConsole: r.requester_id === p.userId && opensConsole(r).ok,
      },
    };
  };

  return {
    async list(p, scope) {
      let rows: AccessRequestListRow[];
      if (scope === 'mine') {
        rows = await listAccessRequests(db, { requesterId: p.userId, limit: 100 });
      } else if (scope === 'decide') {
        const pending = await listAccessRequests(db, { statuses: ['pending'], notDecidedBy: p.userId, limit: 200 });
        rows = pending.filter((r) => {
          const t = findTarget(r.target);
          return t !== undefined && mayApprove(p, t, r.requester_id);
        });
      } else {
        if (!hasRole(p, 'approver') && !hasRole(p, 'admin')) throw new SallyportError('ACCESS_DENIED', 'active grants are for approvers and admins');
        rows = await listAccessRequests(db, { live: true, limit: 200 });
      }
      return rows.map((r) => view(p, r, false));
    },

    async get(p, requestId) {
      const row = /^[0-9a-f-]{36}$/.test(requestId) ? await getAccessRequest(db, requestId) : null;
      if (!row || !maySeeRequest(p, row)) throw new SallyportError('NOT_FOUND', `no access request ${requestId}`);
      const target = findTarget(row.target);
      const approverGroups = target?.approval.approvers ?? [];
      const [decisions, approverUsers, sessions, equal] = await Promise.all([
        listAccessDecisions(db, requestId),
        usersInGroups(db, approverGroups, deps.approverRoleGroups, row.requester_id),
        grantSessions(db, requestId),
        row.status === 'pending' ? equalGrantInForce(db, row) : Promise.resolve(null),
      ]);
      const alreadyDecided = decisions.some((d) => d.approver_id === p.userId);
      return {
        ...view(p, row, alreadyDecided),
        decisions: decisions.map((d) => ({ approver: d.approver_username, decision: d.decision, comment: d.comment, decidedAt: d.decided_at })),
        approvers: { groups: [...approverGroups], users: approverUsers },
        sessions: sessions.map((s) => ({ id: s.id, startedAt: s.started_at, endedAt: s.ended_at })),
        equalGrantInForce: equal ? { id: equal.id, reason: equal.reason, expiresAt: equal.expires_at } : null,
      };
    },
  };
}
