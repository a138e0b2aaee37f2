// Grants at the moment of use: admitting a console (the access decision, and one session taken
// from a live grant for exactly this console), giving a use back when the console never
// started, grants no longer live, and expiry (grants past their time, requests nobody decided).
import { countLiveConsolesLocked, deadGrants, expireGrants, returnGrantUse, useGrant } from '../db/index.js';
import { SallyportError } from '../errors.js';
import { authorizeConsole, checkConsoleCaps } from './policy.js';
import type { AccessRequests, AccessRequestsDeps } from './requests.js';

/** A request nobody decided within a day expires: a stale ask should be asked again. */
const PENDING_TTL_SECONDS = 24 * 3600;

export function createGrantUse(deps: AccessRequestsDeps): Pick<AccessRequests, 'admitConsole' | 'returnGrantUse' | 'deadGrants' | 'expire'> {
  const { db, audit } = deps;
  return {
    async admitConsole(p, target, tx) {
      authorizeConsole(p, target);
      // Counted in the transaction that creates the session row, so the count cannot go stale.
      if (tx && deps.consoleCaps) checkConsoleCaps(await countLiveConsolesLocked(tx, p.userId, target.name), deps.consoleCaps, target);
      if (!target.approval.required) return { grantId: null };
      const grant = await useGrant(tx ?? db, { requesterId: p.userId, target: target.name, image: target.image, command: target.command, placement: target.placement });
      if (!grant) {
        throw new SallyportError(
          'APPROVAL_REQUIRED',
          `${target.name} needs an approved access request for this exact console (image ${target.image}); approvals for another image, command or node pool do not carry over`,
        );
      }
      return { grantId: grant.id };
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
