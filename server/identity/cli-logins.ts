// Logins for the command line (`sallyport admin login`). The CLI cannot do OIDC in a terminal, so
// it is given a link and a short code to show, and a poll secret of its own. Whoever opens the
// link in a browser (logged in through the IdP as usual), checks the code and confirms, gives the
// polling CLI a login of its own for that user: a bearer token for the same API, with the same
// roles, that ends when the confirming browser login would have ended — never later. The token
// is handed out once and never stored (only its keyed hash, like every session id). Who may do
// what with it is the access layer's, exactly as for the browser.
import { randomBytes } from 'node:crypto';
import type { AuditLog } from '../audit/index.js';
import type { Config } from '../config/index.js';
import {
  confirmCliLogin,
  countWaitingCliLogins,
  getCliLogin,
  listCliSessions,
  revokeCliSession,
  saveCliLogin,
  takeCliLogin,
  type CliLoginRow,
  type CliSessionRow,
  type Database,
} from '../db/index.js';
import { SallyportError } from '../errors.js';
import { isLinkToken, keyedHash, loginCode, newLinkToken } from './login-link.js';
import type { Principal } from './principal.js';

/** How long a link waits for its confirmation. */
export const CLI_LOGIN_SECONDS = 300;

/** What the confirming page shows: who is asking, from where, and its state. */
export interface CliLoginView {
  code: string;
  /** What the command line asks to be allowed: the admin and audit API, or everything. */
  scope: 'full' | 'admin';
  /** The confirming browser's own address, to compare with the client's. */
  yourAddress?: string;
  clientAddress: string;
  clientName: string;
  createdAt: string;
  expiresAt: string;
  state: CliLoginRow['state'];
  confirmedBy: string | null;
}

export type CliPoll = { state: 'waiting' } | { state: 'confirmed'; token: string; username: string; expiresAt: string };

export interface CliLogins {
  begin(start: { clientAddress: string; clientName: string; scope: 'full' | 'admin' }): Promise<{ pollSecret: string; code: string; url: string; expiresAt: Date }>;
  view(token: string, viewer: { address: string }): Promise<CliLoginView>;
  confirm(token: string, principal: Principal, viewer: { address: string }): Promise<CliLoginView>;
  /** Live command-line logins: the principal's own, or everyone's for an admin asking for all. */
  list(principal: Principal, all: boolean): Promise<CliSessionRow[]>;
  /** Ends one: its owner's, or anyone's by an admin (audited). */
  revoke(principal: Principal, id: string): Promise<void>;
  /** The CLI's poll: waiting, or (once) its session token. Throws for an unknown, expired or spent login. */
  poll(pollSecret: string): Promise<CliPoll>;
}

export function createCliLogins(deps: { config: Config; db: Database; audit: AuditLog }): CliLogins {
  const { config, db, audit } = deps;
  const keyed = (purpose: string, value: string) => keyedHash(config.session.secret, purpose, value);
  // During a session-secret rotation, links another broker made with the other secret still work.
  const keyedAll = (purpose: string, value: string) => [config.session.secret, ...config.session.previousSecrets].map((k) => keyedHash(k, purpose, value));
  const findWithHash = async (token: string) => {
    if (isLinkToken(token)) {
      for (const hash of keyedAll('cli-login', token)) {
        const row = await getCliLogin(db, hash);
        if (row) return { row, hash };
      }
    }
    throw new SallyportError('NOT_FOUND', 'no such command-line login: the link is wrong or too old');
  };
  const find = async (token: string) => (await findWithHash(token)).row;
  const view = (r: CliLoginRow, viewer?: { address: string }): CliLoginView => ({
    code: r.code,
    scope: r.scope,
    ...(viewer ? { yourAddress: viewer.address } : {}),
    clientAddress: r.clientAddress,
    clientName: r.clientName,
    createdAt: r.createdAt.toISOString(),
    expiresAt: r.expiresAt.toISOString(),
    state: r.state,
    confirmedBy: r.confirmedBy,
  });

  return {
    async begin(start) {
      if ((await countWaitingCliLogins(db)) >= config.limits.pendingLogins) {
        throw new SallyportError('LIMIT_REACHED', `too many command-line logins waiting (SALLYPORT_MAX_PENDING_LOGINS=${config.limits.pendingLogins}); try again in a few minutes`);
      }
      const token = newLinkToken();
      const pollSecret = newLinkToken();
      const code = loginCode();
      const expiresAt = await db.transaction(async (tx) => {
        const at = await saveCliLogin(tx, { tokenHash: keyed('cli-login', token), pollHash: keyed('cli-poll', pollSecret), code, ...start, seconds: CLI_LOGIN_SECONDS });
        await audit.append({ actor: 'anonymous', action: 'cli.login.issued', details: { ...start, expiresAt: at.toISOString() } }, tx);
        return at;
      });
      return { pollSecret, code, url: `${config.publicUrl}/cli/${token}`, expiresAt };
    },

    async view(token, viewer) {
      return view(await find(token), viewer);
    },

    async confirm(token, principal, viewer) {
      if (!principal.browserSession) throw new SallyportError('UNAUTHENTICATED', 'confirm a command-line login from a browser login');
      // A command-line login may not mint another: whoever holds a token must not outlast its parent.
      if (principal.via === 'cli') throw new SallyportError('ACCESS_DENIED', 'a command-line login cannot confirm logins: confirm it in a browser logged in through the identity provider');
      const { row, hash } = await findWithHash(token);
      const done = await db.transaction(async (tx) => {
        if (!(await confirmCliLogin(tx, hash, principal.userId, Buffer.from(principal.browserSession!, 'hex')))) return false;
        await audit.append(
          { actor: `user:${principal.userId}`, action: 'cli.login.confirmed', subject: principal.username, details: { username: principal.username, clientAddress: row.clientAddress, clientName: row.clientName } },
          tx,
        );
        return true;
      });
      if (!done) {
        throw new SallyportError('CONFLICT', row.state === 'confirmed' ? 'this command-line login was already confirmed: a link works once' : 'this command-line login has expired: run sallyport admin login again');
      }
      return view({ ...row, state: 'confirmed', confirmedBy: principal.username }, viewer);
    },

    list(principal, all) {
      if (all && !principal.roles.includes('admin')) throw new SallyportError('ACCESS_DENIED', "listing everyone's command-line logins needs the admin role");
      return listCliSessions(db, all ? null : principal.userId);
    },

    async revoke(principal, id) {
      const admin = principal.roles.includes('admin');
      await db.transaction(async (tx) => {
        const ended = await revokeCliSession(tx, id, admin ? null : principal.userId);
        // Someone else's (for a non-admin) is as unknown as a made-up id.
        if (!ended) throw new SallyportError('NOT_FOUND', 'no such live command-line login');
        await audit.append(
          { actor: `user:${principal.userId}`, action: 'cli.login.revoked', subject: ended.username, details: { by: principal.username, username: ended.username, clientName: ended.clientName } },
          tx,
        );
      });
    },

    async poll(pollSecret) {
      if (!isLinkToken(pollSecret)) throw new SallyportError('NOT_FOUND', 'no such command-line login');
      const token = randomBytes(32).toString('base64url');
      const polled = await db.transaction(async (tx) => {
        let p = await takeCliLogin(tx, keyed('cli-poll', pollSecret), keyed('session', token));
        for (const hash of keyedAll('cli-poll', pollSecret).slice(1)) if (p.state === 'unknown') p = await takeCliLogin(tx, hash, keyed('session', token));
        if (p.state === 'confirmed') {
          await audit.append(
            { actor: `user:${p.userId}`, action: 'cli.login.taken', subject: p.username, details: { username: p.username, expiresAt: p.expiresAt.toISOString() } },
            tx,
          );
        }
        return p;
      });
      switch (polled.state) {
        case 'waiting':
          return { state: 'waiting' };
        case 'confirmed':
          return { state: 'confirmed', token, username: polled.username, expiresAt: polled.expiresAt.toISOString() };
        case 'unknown':
          throw new SallyportError('NOT_FOUND', 'no such command-line login');
        case 'expired':
          throw new SallyportError('CONFLICT', 'the login link expired before anyone confirmed it: run sallyport admin login again');
        case 'taken':
          throw new SallyportError('CONFLICT', 'this login was already handed out: a link gives one login');
        case 'login_ended':
          throw new SallyportError('CONFLICT', 'the browser login that confirmed this link has ended: log in again');
      }
    },
  };
}
