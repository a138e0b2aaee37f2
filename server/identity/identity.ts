// Identity: turns an OIDC login into a server-side browser session and a session cookie value
// back into a Principal. Session ids are random 256-bit values; only their keyed hash is
// stored (CSRF tokens, derived from them, are the front door's: http/csrf.ts).
import { randomBytes } from 'node:crypto';
import { keyedHash, openForBinding, sealForBinding } from './login-link.js';
import { toPrincipal, type Principal } from './principal.js';
import type { AuditLog } from '../audit/index.js';
import type { Config, Role } from '../config/index.js';
import {
  countPendingLogins,
  endBrowserSession,
  moveConsolesToLogin,
  recordUserSeen,
  savePendingLogin,
  startBrowserSession,
  takePendingLogin,
  touchBrowserSession,
  type Database,
} from '../db/index.js';
import { SallyportError } from '../errors.js';
import type { RelyingParty } from './oidc.js';
import { safeReturnTo } from './return-to.js';
import { groupsFromClaims, rolesFromGroups } from './roles.js';

/** How long a user has to finish logging in at the IdP. */
const LOGIN_TTL_SECONDS = 600;

export interface Identity {
  /** Starts a login; the binding goes into a cookie so only this browser can finish it. */
  /** `stepUp` asks the IdP to authenticate again unless it did so within the re-auth window. */
  beginLogin(returnTo: string | undefined, options?: { stepUp?: boolean; loginHint?: string }): Promise<{ authorizationUrl: string; binding: string }>;
  /** Ends `previousSessionId` (this browser's older session), so a step-up rotates the cookie. */
  completeLogin(
    callbackUrl: URL,
    binding: string | undefined,
    previousSessionId?: string,
    clientAddress?: string,
  ): Promise<{ sessionId: string; principal: Principal; returnTo: string }>;
  /** The principal of a live session, or null; extends the idle window. */
  authenticate(sessionId: string | undefined): Promise<Principal | null>;
  /** Ends the login (audited): the CLI's `admin logout`, and the first half of a browser logout. */
  endLogin(sessionId: string, principal: Principal): Promise<void>;
  /** A browser's logout: ends the login, then where to send the browser (the IdP's end-session URL). */
  logout(sessionId: string, principal: Principal): Promise<{ redirectTo: string }>;
}

export function createIdentity(deps: { config: Config; db: Database; audit: AuditLog; rp: RelyingParty }): Identity {
  const { config, db, audit, rp } = deps;
  const keyed = (purpose: string, value: string): Buffer => keyedHash(config.session.secret, purpose, value);
  // During a secret rotation, what an earlier (or the next) secret made is still found.
  const secrets = [config.session.secret, ...config.session.previousSecrets];
  const keyedAll = (purpose: string, value: string): Buffer[] => secrets.map((k) => keyedHash(k, purpose, value));
  /** The first answer of `lookup` over the value's hash under each accepted secret, with that hash. */
  const findKeyed = async <T>(purpose: string, value: string, lookup: (hash: Buffer) => Promise<T | null>): Promise<{ found: T; hash: Buffer } | null> => {
    for (const hash of keyedAll(purpose, value)) {
      const found = await lookup(hash);
      if (found) return { found, hash };
    }
    return null;
  };

  const fail = async (reason: string, stage: 'callback' | 'token' | 'session', cause?: unknown): Promise<never> => {
    await audit.append({ actor: 'anonymous', action: 'auth.login_failed', details: { reason, stage } }).catch(() => {});
    throw new SallyportError('LOGIN_FAILED', reason, { cause });
  };

  const endLogin: Identity['endLogin'] = async (sessionId, principal) => {
    await db.transaction(async (tx) => {
      let ended = false;
      for (const hash of keyedAll('session', sessionId)) ended = (await endBrowserSession(tx, hash, 'logout')) || ended;
      if (ended) {
        await audit.append(
          { actor: `user:${principal.userId}`, action: 'auth.logout', subject: principal.username, details: { username: principal.username } },
          tx,
        );
      }
    });
  };

  return {
    async beginLogin(returnTo, options = {}) {
      const target = safeReturnTo(returnTo, config.publicUrl);
      // The table of logins in flight must not grow without bound, whoever asks (they expire in 10 min).
      if ((await countPendingLogins(db)) >= config.limits.pendingLogins) {
        throw new SallyportError('LIMIT_REACHED', `too many logins in flight (SALLYPORT_MAX_PENDING_LOGINS=${config.limits.pendingLogins}); try again in a few minutes`);
      }
      const maxAge = options.stepUp ? config.access.reauthMaxAgeSeconds : null;
      const request = await rp.authorizationRequest({ ...(maxAge === null ? {} : { maxAgeSeconds: maxAge }), ...(options.loginHint ? { loginHint: options.loginHint } : {}) });
      const binding = randomBytes(32).toString('base64url');
      await savePendingLogin(
        db,
        keyed('login', binding),
        // Sealed: a return path may be a login link (/ssh/<token>, /cli/<token>), which a reader of
        // the table could otherwise confirm as its own.
        { state: request.state, nonce: request.nonce, codeVerifier: request.codeVerifier, returnTo: sealForBinding(config.session.secret, binding, target), maxAge },
        LOGIN_TTL_SECONDS,
      );
      return { authorizationUrl: request.url, binding };
    },

    async completeLogin(callbackUrl, binding, previousSessionId, clientAddress) {
      if (!binding) return fail('no login in progress in this browser (missing login cookie)', 'callback');
      const pending = (await findKeyed('login', binding, (hash) => takePendingLogin(db, hash)))?.found;
      if (!pending) return fail('unknown, expired or already used login', 'callback');
      const returnTo = secrets.map((k) => openForBinding(k, binding, pending.returnTo)).find((x) => x !== null) ?? null;
      if (returnTo === null) return fail('the login in progress was changed', 'callback');
      const idpError = callbackUrl.searchParams.get('error');
      if (idpError) return fail(`identity provider returned ${idpError.slice(0, 100)}`, 'callback');

      let verified;
      try {
        verified = await rp.exchange(callbackUrl, pending);
      } catch (err) {
        return fail((err as Error).message, 'token', err);
      }
      const groups = groupsFromClaims(verified.claims, config.oidc.groupsClaim) ?? [];
      const roles = rolesFromGroups(groups, config.roles);
      const str = (k: string) => (typeof verified.claims[k] === 'string' ? (verified.claims[k] as string) : null);
      const username = str('preferred_username') ?? str('email') ?? verified.subject;

      const sessionId = randomBytes(32).toString('base64url');
      const principal = await db.transaction(async (tx) => {
        const user = await recordUserSeen(tx, {
          issuer: config.oidc.issuer,
          subject: verified.subject,
          username,
          displayName: str('name'),
          email: str('email'),
          groups,
        });
        await startBrowserSession(tx, {
          idHash: keyed('session', sessionId),
          userId: user.id,
          groups,
          roles,
          authTime: verified.authTime,
          absoluteSeconds: config.session.absoluteTimeoutSeconds,
        });
        if (previousSessionId && previousSessionId.length <= 128) for (const hash of keyedAll('session', previousSessionId)) await endBrowserSession(tx, hash, 'replaced by a new login');
        await audit.append(
          {
            actor: `user:${user.id}`,
            action: 'auth.login',
            subject: username,
            details: { username, groups, roles, stepUp: pending.maxAge !== null, authTime: verified.authTime.getTime() > 0 ? verified.authTime.toISOString() : null, ...(clientAddress ? { clientAddress } : {}) },
          },
          tx,
        );
        if (previousSessionId && previousSessionId.length <= 128) {
          // A step-up login replaces the cookie, not the user's work: live consoles move along.
          for (const hash of keyedAll('session', previousSessionId)) await moveConsolesToLogin(tx, hash, keyed('session', sessionId));
        }
        return toPrincipal(user, groups, roles, verified.authTime, keyed('session', sessionId));
      });
      return { sessionId, principal, returnTo };
    },

    async authenticate(sessionId) {
      if (!sessionId || sessionId.length > 128) return null;
      const hit = await findKeyed('session', sessionId, (hash) => touchBrowserSession(db, hash, config.session.idleTimeoutSeconds));
      if (!hit) return null;
      const row = hit.found;
      return toPrincipal(row.user, row.groups, row.roles as Role[], row.authTime, hit.hash, { via: row.via, scope: row.scope });
    },

    endLogin,

    async logout(sessionId, principal) {
      await endLogin(sessionId, principal);
      const loggedOut = `${config.publicUrl}/auth/logged-out`;
      return { redirectTo: (await rp.endSessionUrl(loggedOut)) ?? loggedOut };
    },
  };
}
