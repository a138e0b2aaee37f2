// Grants at the moment of use: admitting a console (the access decision, and one session taken
// from a live grant for exactly this console), giving a use back when the console never
// started, grants no longer live, and expiry (grants past their time, requests nobody decided).
import type { Target } from '../catalog/index.js';
import { countLiveConsolesLocked, deadGrants, expireGrants, getAccessRequest, holdsGrantFor, returnGrantUse, useGrant, type Queryable } from '../db/index.js';
import type { Principal } from '../identity/index.js';
import { SallyportError } from '../errors.js';
import { authorizeConsole, checkConsoleCaps } from './policy.js';
import type { AccessRequests, AccessRequestsDeps } from './requests.js';

/** Why the grant the user chose cannot open this console, in the words they need. */
async function whyNotThisGrant(q: Queryable, p: Principal, target: Target, grantId: string): Promise<SallyportError> {
  const g = await getAccessRequest(q, grantId);
  if (!g || g.requester_id !== p.userId) return new SallyportError('NOT_FOUND', `no access request ${grantId} of yours`);
  if (g.target !== target.name) return new SallyportError('APPROVAL_REQUIRED', `request ${grantId} is for ${g.target}, not ${target.name}`);
  if (g.status !== 'approved') return new SallyportError('APPROVAL_REQUIRED', `request ${grantId} is ${g.status}${g.status_reason ? ` (${g.status_reason})` : ''}: it opens no console`);
  if (g.expires_at && g.expires_at.getTime() <= Date.now()) return new SallyportError('APPROVAL_REQUIRED', `the access granted by request ${grantId} has ended`);
  if (g.image !== target.image || g.command.join('\0') !== target.command.join('\0')) {
    return new SallyportError('APPROVAL_REQUIRED', `request ${grantId} approved another image or command than ${target.name} runs now: ask again`);
  }
  return new SallyportError('APPROVAL_REQUIRED', `request ${grantId} has no sessions left`);
}

/** A request nobody decided within a day expires: a stale ask should be asked again. */
const PENDING_TTL_SECONDS = 24 * 3600;

export function createGrantUse(deps: AccessRequestsDeps): Pick<AccessRequests, 'admitConsole' | 'returnGrantUse' | 'deadGrants' | 'expire'> {
  const { db, audit } = deps;
  return {
    async admitConsole(p, target, tx, chosen) {
      authorizeConsole(p, target);
      // Counted in the transaction that creates the session row, so the count cannot go stale.
      if (tx && deps.consoleCaps) checkConsoleCaps(await countLiveConsolesLocked(tx, p.userId, target.name), deps.consoleCaps, target);
      if (!target.approval.required) return { grantId: null, grant: null };
      const q = tx ?? db;
      const grant = await useGrant(q, { requesterId: p.userId, target: target.name, image: target.image, command: target.command, placement: target.placement, grantId: chosen ?? null });
      if (!grant && chosen) throw await whyNotThisGrant(q, p, target, chosen);
      if (!grant) {
        // Plain words for someone who never had a grant; the finer print for someone whose grant
        // was for the console as it was before the operator changed it.
        const other = await holdsGrantFor(q, p.userId, target.name);
        throw new SallyportError(
          'APPROVAL_REQUIRED',
          other
            ? `${target.name} changed since your access was approved (image, command or nodes): approvals are for the exact console, so ask again`
            : `${target.name} needs approval: ask for access on the Access page, with a reason`,
        );
      }
      return { grantId: grant.id, grant: { reason: grant.reason, expiresAt: grant.expires_at! } };
    },

    returnGrantUse: (grantId, tx) => returnGrantUse(tx, grantId),

    deadGrants: (ids) => deadGrants(db, ids),

    async expire() {
      return db.transaction(async (tx) => {
        const rows = await expireGrants(tx, PENDING_TTL_SECONDS);
        for (const r of rows) {
          await audit.append({ actor: 'system', action: 'access.expired', subject: r.id, details: { target: r.target, reason: r.status_reason ?? 'expired' } }, tx);
        }
        return rows;
      });
    },
  };
}
