// Just-in-time access requests: ask, decide, withdraw, revoke (grants.ts: use and expiry;
// views.ts: how requests read to people). Policy comes from the catalogue (policy.ts
// decisions); state lives in PostgreSQL and every transition
// is settled there under the request's row lock. Each step is an audit event in the same
// transaction.
import { randomUUID } from 'node:crypto';
import type { AuditLog } from '../audit/index.js';
import type { CatalogStore, Target } from '../catalog/index.js';
import {
  countValidApprovals,
  grantAccess,
  insertAccessRequest,
  lockAccessRequest,
  moveConsolesToGrant,
  pendingExtension,
  recordDecision,
  transitionAccessRequest,
  type AccessRequestRow,
  type Database,
  type Queryable,
  type RequestStatus,
} from '../db/index.js';
import { invalidInput, SallyportError, type FieldProblem } from '../errors.js';
import { checkAccessRequest, hasRole, isAutoApproved, mayApprove, mayRequestAccess, requireFullScope, requireRecentLogin, type ConsoleCaps } from './policy.js';
import { createGrantUse } from './grants.js';
import { createRequestViews } from './views.js';
import type { Principal } from '../identity/principal.js';

const MAX_COMMENT = 2000;

/** What approvers and requesters are told about; delivered by notify/ after the commit. */
export interface AccessNotification {
  event: 'access.requested' | 'access.approved' | 'access.denied' | 'access.revoked';
  requestId: string;
  target: string;
  requester: string;
  /** Who did it (username), or "system" for on-call auto-approval. */
  actor: string;
  /** The requester's reason, the approver's comment or the revoker's reason. */
  text: string;
  expiresAt: string | null;
}

/** Called inside the state change's transaction, so a notification exists exactly when the change does. */
export type Notify = (tx: Queryable, n: AccessNotification) => Promise<void>;

/** One request as the pages and API show it. */
export interface AccessRequestView {
  id: string;
  requester: string;
  target: string;
  image: string;
  command: string[];
  /** The node pool the approval binds; empty = the broker's own engine. */
  nodes: string[];
  reason: string;
  durationSeconds: number;
  approvalsNeeded: number;
  maxSessions: number | null;
  sessionsUsed: number;
  status: RequestStatus;
  statusReason: string | null;
  createdAt: Date;
  decidedAt: Date | null;
  expiresAt: Date | null;
  /** Whether this grant would open a console now, and if not, why. */
  opensConsole: { ok: boolean; why: string | null };
  /** The grant this request asks more time for (shown to approvers beside it). */
  extends: string | null;
  youMay: { decide: boolean; withdraw: boolean; revoke: boolean; handBack: boolean; openConsole: boolean; extend: boolean };
}

export interface AccessRequestDetail extends AccessRequestView {
  decisions: Array<{ approver: string; decision: 'approve' | 'deny'; comment: string; decidedAt: Date }>;
  /** Who is able to approve it: the target's approver groups and the known users in them. */
  approvers: { groups: string[]; users: string[] };
  sessions: Array<{ id: string; startedAt: Date; endedAt: Date | null }>;
  /** Pending beside an approved grant for exactly the same console: shown to requester and approver. */
  equalGrantInForce: { id: string; reason: string; expiresAt: Date } | null;
}

export type AccessRequestScope = 'mine' | 'decide' | 'active';

export interface AccessRequests {
  /** `extends`: the requester's own grant, in force, this asks more time for (the same console). */
  request(p: Principal, targetName: string, input: { reason: string; durationSeconds: number; extends?: string }): Promise<AccessRequestRow>;
  decide(p: Principal, requestId: string, decision: 'approve' | 'deny', comment: string): Promise<AccessRequestRow>;
  withdraw(p: Principal, requestId: string): Promise<AccessRequestRow>;
  revoke(p: Principal, requestId: string, reason: string): Promise<AccessRequestRow>;
  /** The requester ends their own grant early (its live consoles end as on a revoke). */
  handBack(p: Principal, requestId: string): Promise<AccessRequestRow>;
  /** Ends grants whose time is up and requests left undecided for a day; returns them so live sessions can be ended. */
  expire(): Promise<AccessRequestRow[]>;
  /**
   * The whole decision to open a console: the principal may use the target (ACCESS_DENIED
   * otherwise) and, when the target needs approval, one session is taken from a live grant
   * for exactly this target as the catalogue has it now, image and command included
   * (APPROVAL_REQUIRED otherwise). Returns the grant used, if any.
   */
  /**
   * Decides and takes one session from a grant: the one the user chose (`grantId`, refused naming
   * why when it cannot open this console), else the most recently approved that can.
   */
  admitConsole(p: Principal, target: Target, tx?: Queryable, grantId?: string): Promise<{ grantId: string | null; grant: { reason: string; expiresAt: Date } | null }>;
  /** Gives back the session a console took from its grant when it failed to start; false if it could not. */
  returnGrantUse(grantId: string, tx: Queryable): Promise<boolean>;
  /** Of these grant ids, those no longer live and why ('expired' or 'revoked'…). */
  deadGrants(ids: readonly string[]): Promise<Array<{ id: string; status: string }>>;
  /**
   * mine: the principal's own requests; decide: pending ones they may decide and have not;
   * active: grants in force (approvers and admins only).
   */
  list(p: Principal, scope: AccessRequestScope): Promise<AccessRequestView[]>;
  /** One request, for its requester, approvers, admins and auditors; NOT_FOUND for others. */
  get(p: Principal, requestId: string): Promise<AccessRequestDetail>;
}

export interface AccessRequestsDeps {
  db: Database;
  audit: AuditLog;
  catalog: CatalogStore;
  /** IdP groups that carry the approver or admin role: an approval counts only while the approver holds one. */
  approverRoleGroups: readonly string[];
  /** Deciding and revoking need a login at most this old. */
  reauthMaxAgeSeconds: number;
  notify?: Notify;
  /** Caps on live consoles, checked when a console is admitted. */
  consoleCaps?: ConsoleCaps;
}

export function createAccessRequests(deps: AccessRequestsDeps): AccessRequests {
  const { db, audit } = deps;
  const notify: Notify = deps.notify ?? (async () => {});
  const actor = (p: Principal) => `user:${p.userId}`;
  const findTarget = (name: string): Target | undefined => deps.catalog.current().targets.find((t) => t.name === name);
  const invalid = (problems: FieldProblem[]) => invalidInput(problems, 'the access request is invalid');

  /**
   * An extension approved: the consoles running under the grant it extends move to it, in the
   * approval's transaction, so the control pass finds them under a grant in force and their users
   * are told the new end (consoles/control.ts).
   */
  const carryConsoles = async (tx: Queryable, granted: AccessRequestRow, by: string) => {
    if (!granted.extends_id) return;
    const sessions = await moveConsolesToGrant(tx, granted.extends_id, granted.id);
    await audit.append(
      { actor: by, action: 'access.extended', subject: granted.id, details: { target: granted.target, extends: granted.extends_id, expiresAt: granted.expires_at!.toISOString(), sessions } },
      tx,
    );
  };

  return {
    async request(p, targetName, input) {
      requireFullScope(p, 'asking for access');
      const target = findTarget(targetName);
      if (!target) throw invalid([{ field: 'target', message: `no target named ${targetName}` }]);
      if (!target.approval.required) throw invalid([{ field: 'target', message: `${target.name} does not need approval` }]);
      if (!mayRequestAccess(p, target)) throw new SallyportError('ACCESS_DENIED', `you may not request access to ${target.name}`);
      const problems = checkAccessRequest(target, input);
      if (problems.length > 0) throw invalid(problems);

      return db.transaction(async (tx) => {
        if (input.extends !== undefined) {
          // Only one's own grant, in force, for the console as it is; one extension waiting at a time.
          const original = /^[0-9a-f-]{36}$/.test(input.extends) ? await lockAccessRequest(tx, input.extends) : null;
          if (!original || original.requester_id !== p.userId) throw new SallyportError('NOT_FOUND', `no access request ${input.extends}`);
          if (original.status !== 'approved' || !original.expires_at || original.expires_at <= new Date()) {
            throw new SallyportError('CONFLICT', `request ${original.id} is not a grant in force (it is ${original.status === 'approved' ? 'expired' : original.status}): ask for access anew`);
          }
          if (original.target !== target.name || original.image !== target.image || original.command.join('\0') !== target.command.join('\0') || original.placement.join(',') !== target.placement.join(',')) {
            throw new SallyportError('CONFLICT', `${target.name} changed since request ${original.id} was approved (image, command or nodes): an extension is for the same console, so ask anew`);
          }
          const waiting = await pendingExtension(tx, original.id);
          if (waiting) throw new SallyportError('CONFLICT', `an extension of ${original.id} is already waiting: request ${waiting}`);
        }
        let row = await insertAccessRequest(tx, {
          id: randomUUID(),
          requesterId: p.userId,
          target: target.name,
          image: target.image,
          command: target.command,
          placement: target.placement,
          catalogSha256: deps.catalog.current().sha256,
          reason: input.reason.trim(),
          durationSeconds: input.durationSeconds,
          approvalsNeeded: target.approval.approvals,
          maxSessions: target.approval.maxSessions ?? null,
          extendsId: input.extends ?? null,
        });
        await audit.append(
          {
            actor: actor(p),
            action: 'access.requested',
            subject: row.id,
            details: {
              username: p.username,
              ...(p.clientAddress ? { clientAddress: p.clientAddress } : {}),
              target: target.name,
              image: target.image,
              command: [...target.command],
              ...(target.placement.length ? { nodes: [...target.placement] } : {}),
              reason: row.reason,
              durationSeconds: row.duration_seconds,
              approvalsNeeded: row.approvals_needed,
              ...(row.extends_id ? { extends: row.extends_id } : {}),
            },
          },
          tx,
        );
        const base = { requestId: row.id, target: target.name, requester: p.username };
        await notify(tx, { ...base, event: 'access.requested', actor: p.username, text: row.reason, expiresAt: null });
        if (isAutoApproved(p, target)) {
          row = (await grantAccess(tx, row.id))!;
          await audit.append(
            { actor: 'system', action: 'access.approved', subject: row.id, details: { target: target.name, expiresAt: row.expires_at!.toISOString(), auto: true } },
            tx,
          );
          await notify(tx, { ...base, event: 'access.approved', actor: 'system', text: 'approved at once for on-call', expiresAt: row.expires_at!.toISOString() });
          await carryConsoles(tx, row, 'system');
        }
        return row;
      });
    },

    async decide(p, requestId, decision, comment) {
      requireFullScope(p, 'deciding a request');
      if (comment.length > MAX_COMMENT) throw invalid([{ field: 'comment', message: `must be at most ${MAX_COMMENT} characters` }]);
      return db.transaction(async (tx) => {
        const row = await lockAccessRequest(tx, requestId);
        if (!row) throw new SallyportError('NOT_FOUND', `no access request ${requestId}`);
        const target = findTarget(row.target);
        if (!target || !mayApprove(p, target, row.requester_id)) {
          throw new SallyportError('ACCESS_DENIED', row.requester_id === p.userId ? 'you cannot decide your own request' : 'you may not decide this request');
        }
        requireRecentLogin(p, deps.reauthMaxAgeSeconds);
        if (row.status !== 'pending') throw new SallyportError('CONFLICT', `the request is already ${row.status}`);
        if (!(await recordDecision(tx, { requestId, approverId: p.userId, decision, comment }))) {
          throw new SallyportError('CONFLICT', 'you have already decided this request');
        }
        const approverGroups = target.approval.approvers ?? [];
        const counted = await countValidApprovals(tx, requestId, approverGroups, deps.approverRoleGroups);
        const base = { requestId, target: row.target, requester: row.requester_username, actor: p.username, text: comment };
        await audit.append(
          { actor: actor(p), action: 'access.decision', subject: requestId, details: { username: p.username, ...(p.clientAddress ? { clientAddress: p.clientAddress } : {}), decision, comment, counted, needed: row.approvals_needed } },
          tx,
        );
        if (decision === 'deny') {
          const denied = (await transitionAccessRequest(tx, requestId, ['pending'], 'denied', comment || null))!;
          await audit.append({ actor: actor(p), action: 'access.denied', subject: requestId, details: { target: row.target, comment } }, tx);
          await notify(tx, { ...base, event: 'access.denied', expiresAt: null });
          return denied;
        }
        if (counted < row.approvals_needed) return row;
        const granted = (await grantAccess(tx, requestId))!;
        await audit.append(
          { actor: actor(p), action: 'access.approved', subject: requestId, details: { target: row.target, expiresAt: granted.expires_at!.toISOString(), auto: false } },
          tx,
        );
        await notify(tx, { ...base, event: 'access.approved', expiresAt: granted.expires_at!.toISOString() });
        await carryConsoles(tx, granted, actor(p));
        return granted;
      });
    },

    async withdraw(p, requestId) {
      requireFullScope(p, 'withdrawing a request');
      return db.transaction(async (tx) => {
        const row = await lockAccessRequest(tx, requestId);
        if (!row || row.requester_id !== p.userId) throw new SallyportError('NOT_FOUND', `no access request ${requestId}`);
        const done = await transitionAccessRequest(tx, requestId, ['pending'], 'withdrawn', null, p.userId);
        if (!done) throw new SallyportError('CONFLICT', `the request is already ${row.status}`);
        await audit.append({ actor: actor(p), action: 'access.withdrawn', subject: requestId, details: { target: row.target } }, tx);
        return done;
      });
    },

    async handBack(p, requestId) {
      requireFullScope(p, 'handing a grant back');
      return db.transaction(async (tx) => {
        const row = await lockAccessRequest(tx, requestId);
        if (!row || row.requester_id !== p.userId) throw new SallyportError('NOT_FOUND', `no access request ${requestId}`);
        const done = await transitionAccessRequest(tx, requestId, ['approved'], 'revoked', 'handed back by the requester', p.userId);
        if (!done) throw new SallyportError('CONFLICT', `the request is ${row.status}, not an active grant`);
        await audit.append({ actor: actor(p), action: 'access.handed_back', subject: requestId, details: { target: row.target } }, tx);
        await notify(tx, { event: 'access.revoked', requestId, target: row.target, requester: row.requester_username, actor: p.username, text: 'handed back by the requester', expiresAt: null });
        return done;
      });
    },

    async revoke(p, requestId, reason) {
      if (reason.length > MAX_COMMENT) throw invalid([{ field: 'reason', message: `must be at most ${MAX_COMMENT} characters` }]);
      if (!hasRole(p, 'approver') && !hasRole(p, 'admin')) throw new SallyportError('ACCESS_DENIED', 'requires the approver or admin role');
      requireRecentLogin(p, deps.reauthMaxAgeSeconds);
      return db.transaction(async (tx) => {
        const row = await lockAccessRequest(tx, requestId);
        if (!row) throw new SallyportError('NOT_FOUND', `no access request ${requestId}`);
        const done = await transitionAccessRequest(tx, requestId, ['approved'], 'revoked', reason || 'revoked');
        if (!done) throw new SallyportError('CONFLICT', `the request is ${row.status}, not an active grant`);
        await audit.append({ actor: actor(p), action: 'access.revoked', subject: requestId, details: { target: row.target, reason, ...(p.clientAddress ? { clientAddress: p.clientAddress } : {}) } }, tx);
        await notify(tx, { event: 'access.revoked', requestId, target: row.target, requester: row.requester_username, actor: p.username, text: reason, expiresAt: null });
        return done;
      });
    },

    ...createGrantUse(deps),
    ...createRequestViews(deps),
  };
}
