// Just-in-time access requests: ask, decide, withdraw, revoke, expire. Policy comes from the
// catalogue (policy.ts decisions in index.ts); state lives in PostgreSQL and every transition
// is settled there under the request's row lock. Each step is an audit event in the same
// transaction.
import { randomUUID } from 'node:crypto';
import type { AuditLog } from '../audit/index.js';
import type { CatalogStore, Target } from '../catalog/index.js';
import {
  countValidApprovals,
  deadGrants,
  useGrant,
  expireGrants,
  grantAccess,
  insertAccessRequest,
  lockAccessRequest,
  recordDecision,
  transitionAccessRequest,
  type AccessRequestRow,
  type Database,
} from '../db/index.js';
import { invalidInput, SallyportError, type FieldProblem } from '../errors.js';
import { authorizeConsole, checkAccessRequest, hasRole, isAutoApproved, mayApprove, mayRequestAccess, type Principal } from './policy.js';

const MAX_COMMENT = 2000;

export interface AccessRequests {
  request(p: Principal, targetName: string, input: { reason: string; durationSeconds: number }): Promise<AccessRequestRow>;
  decide(p: Principal, requestId: string, decision: 'approve' | 'deny', comment: string): Promise<AccessRequestRow>;
  withdraw(p: Principal, requestId: string): Promise<AccessRequestRow>;
  revoke(p: Principal, requestId: string, reason: string): Promise<AccessRequestRow>;
  /** Ends grants whose time is up; returns them so live sessions can be ended. */
  expire(): Promise<AccessRequestRow[]>;
  /**
   * The whole decision to open a console: the principal may use the target (ACCESS_DENIED
   * otherwise) and, when the target needs approval, one session is taken from a live grant
   * for exactly this target as the catalogue has it now, image and command included
   * (APPROVAL_REQUIRED otherwise). Returns the grant used, if any.
   */
  admitConsole(p: Principal, target: Target): Promise<{ grantId: string | null }>;
  /** Of these grant ids, those no longer live and why ('expired' or 'revoked'…). */
  deadGrants(ids: readonly string[]): Promise<Array<{ id: string; status: string }>>;
}

export function createAccessRequests(deps: { db: Database; audit: AuditLog; catalog: CatalogStore }): AccessRequests {
  const { db, audit } = deps;
  const actor = (p: Principal) => `user:${p.userId}`;
  const findTarget = (name: string): Target | undefined => deps.catalog.current().targets.find((t) => t.name === name);
  const invalid = (problems: FieldProblem[]) => invalidInput(problems, 'the access request is invalid');

  return {
    async request(p, targetName, input) {
      const target = findTarget(targetName);
      if (!target) throw invalid([{ field: 'target', message: `no target named ${targetName}` }]);
      if (!target.approval.required) throw invalid([{ field: 'target', message: `${target.name} does not need approval` }]);
      if (!mayRequestAccess(p, target)) throw new SallyportError('ACCESS_DENIED', `you may not request access to ${target.name}`);
      const problems = checkAccessRequest(target, input);
      if (problems.length > 0) throw invalid(problems);

      return db.transaction(async (tx) => {
        let row = await insertAccessRequest(tx, {
          id: randomUUID(),
          requesterId: p.userId,
          target: target.name,
          image: target.image,
          command: target.command,
          catalogSha256: deps.catalog.current().sha256,
          reason: input.reason.trim(),
          durationSeconds: input.durationSeconds,
          approvalsNeeded: target.approval.approvals,
          maxSessions: target.approval.maxSessions ?? null,
        });
        await audit.append(
          {
            actor: actor(p),
            action: 'access.requested',
            subject: row.id,
            details: {
              target: target.name,
              image: target.image,
              command: [...target.command],
              reason: row.reason,
              durationSeconds: row.duration_seconds,
              approvalsNeeded: row.approvals_needed,
            },
          },
          tx,
        );
        if (isAutoApproved(p, target)) {
          row = (await grantAccess(tx, row.id))!;
          await audit.append(
            { actor: 'system', action: 'access.approved', subject: row.id, details: { target: target.name, expiresAt: row.expires_at!.toISOString(), auto: true } },
            tx,
          );
        }
        return row;
      });
    },

    async decide(p, requestId, decision, comment) {
      if (comment.length > MAX_COMMENT) throw invalid([{ field: 'comment', message: `must be at most ${MAX_COMMENT} characters` }]);
      return db.transaction(async (tx) => {
        const row = await lockAccessRequest(tx, requestId);
        if (!row) throw new SallyportError('NOT_FOUND', `no access request ${requestId}`);
        const target = findTarget(row.target);
        if (!target || !mayApprove(p, target, row.requester_id)) {
          throw new SallyportError('ACCESS_DENIED', row.requester_id === p.userId ? 'you cannot decide your own request' : 'you may not decide this request');
        }
        if (row.status !== 'pending') throw new SallyportError('CONFLICT', `the request is already ${row.status}`);
        if (!(await recordDecision(tx, { requestId, approverId: p.userId, decision, comment }))) {
          throw new SallyportError('CONFLICT', 'you have already decided this request');
        }
        const approverGroups = target.approval.approvers ?? [];
        const counted = await countValidApprovals(tx, requestId, approverGroups);
        await audit.append(
          { actor: actor(p), action: 'access.decision', subject: requestId, details: { decision, comment, counted, needed: row.approvals_needed } },
          tx,
        );
        if (decision === 'deny') {
          const denied = (await transitionAccessRequest(tx, requestId, ['pending'], 'denied', comment || null))!;
          await audit.append({ actor: actor(p), action: 'access.denied', subject: requestId, details: { target: row.target, comment } }, tx);
          return denied;
        }
        if (counted < row.approvals_needed) return row;
        const granted = (await grantAccess(tx, requestId))!;
        await audit.append(
          { actor: actor(p), action: 'access.approved', subject: requestId, details: { target: row.target, expiresAt: granted.expires_at!.toISOString(), auto: false } },
          tx,
        );
        return granted;
      });
    },

    async withdraw(p, requestId) {
      return db.transaction(async (tx) => {
        const row = await lockAccessRequest(tx, requestId);
        if (!row || row.requester_id !== p.userId) throw new SallyportError('NOT_FOUND', `no access request ${requestId}`);
        const done = await transitionAccessRequest(tx, requestId, ['pending'], 'withdrawn', null, p.userId);
        if (!done) throw new SallyportError('CONFLICT', `the request is already ${row.status}`);
        await audit.append({ actor: actor(p), action: 'access.withdrawn', subject: requestId, details: { target: row.target } }, tx);
        return done;
      });
    },

    async revoke(p, requestId, reason) {
      if (reason.length > MAX_COMMENT) throw invalid([{ field: 'reason', message: `must be at most ${MAX_COMMENT} characters` }]);
      if (!hasRole(p, 'approver') && !hasRole(p, 'admin')) throw new SallyportError('ACCESS_DENIED', 'requires the approver or admin role');
      return db.transaction(async (tx) => {
        const row = await lockAccessRequest(tx, requestId);
        if (!row) throw new SallyportError('NOT_FOUND', `no access request ${requestId}`);
        const done = await transitionAccessRequest(tx, requestId, ['approved'], 'revoked', reason || 'revoked');
        if (!done) throw new SallyportError('CONFLICT', `the request is ${row.status}, not an active grant`);
        await audit.append({ actor: actor(p), action: 'access.revoked', subject: requestId, details: { target: row.target, reason } }, tx);
        return done;
      });
    },

    async admitConsole(p, target) {
      authorizeConsole(p, target);
      if (!target.approval.required) return { grantId: null };
      const grant = await useGrant(db, { requesterId: p.userId, target: target.name, image: target.image, command: target.command });
      if (!grant) {
        throw new SallyportError(
          'APPROVAL_REQUIRED',
          `${target.name} needs an approved access request for this exact console (image ${target.image}); approvals for another image or command do not carry over`,
        );
      }
      return { grantId: grant.id };
    },

    deadGrants: (ids) => deadGrants(db, ids),

    async expire() {
      return db.transaction(async (tx) => {
        const rows = await expireGrants(tx);
        for (const r of rows) await audit.append({ actor: 'system', action: 'access.expired', subject: r.id, details: { target: r.target } }, tx);
        return rows;
      });
    },
  };
}
