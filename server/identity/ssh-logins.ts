// Logins for the SSH front door. A stock `ssh` client cannot do OIDC, so the connection is shown
// a link and a short code; whoever opens the link in a browser (logged in, through the IdP as
// usual), checks the code and confirms becomes the user the connection continues as. The
// link's token is a secret: only its keyed hash is stored. The row is in the database, so the
// link works on any broker; the connection's broker takes the confirmed row once.
import type { AuditLog } from '../audit/index.js';
import type { Config, Role } from '../config/index.js';
import { confirmSshLogin, getSshLogin, saveSshLogin, takeSshLogins, type Database, type SshLoginRow } from '../db/index.js';
import { SallyportError } from '../errors.js';
import { isLinkToken, keyedHash, loginCode, newLinkToken } from './login-link.js';
import { toPrincipal, type Principal } from './principal.js';

export type SshLoginAbandoned = 'expired' | 'disconnected' | 'login_ended' | 'stopping';

export interface SshLoginStart {
  target: string;
  clientAddress: string;
  clientVersion: string;
}

/** What the confirming page shows: what is asking to start, from where, and its state. */
export interface SshLoginView {
  code: string;
  target: string;
  clientAddress: string;
  clientVersion: string;
  createdAt: string;
  expiresAt: string;
  state: SshLoginRow['state'];
  confirmedBy: string | null;
  /** The confirming browser's own address, to compare with the client's. */
  yourAddress?: string;
}

export interface SshLogins {
  begin(start: SshLoginStart): Promise<{ token: string; code: string; url: string; expiresAt: Date }>;
  view(token: string, viewer?: { address: string }): Promise<SshLoginView>;
  confirm(token: string, principal: Principal): Promise<SshLoginView>;
  /** The principals of those of `tokens` confirmed since the last call (null: its browser login ended). */
  take(tokens: readonly string[]): Promise<Map<string, Principal | null>>;
  /** The connection stopped waiting (link expired, client gone, its login ended, broker stopping): audited. */
  abandoned(start: SshLoginStart, why: SshLoginAbandoned): Promise<void>;
}

export function createSshLogins(deps: {
  config: Config;
  db: Database;
  audit: AuditLog;
  brokerId: string;
}): SshLogins {
  const { config, db, audit } = deps;
  const hash = (token: string) => keyedHash(config.session.secret, 'ssh-login', token);
  // During a session-secret rotation, a link another broker's door made with the other secret.
  const hashes = (token: string) => [config.session.secret, ...config.session.previousSecrets].map((k) => keyedHash(k, 'ssh-login', token));
  const findWithHash = async (token: string) => {
    if (isLinkToken(token)) {
      for (const h of hashes(token)) {
        const row = await getSshLogin(db, h);
        if (row) return { row, hash: h };
      }
    }
    throw new SallyportError('NOT_FOUND', 'no such SSH login: the link is wrong or too old');
  };
  const find = async (token: string) => (await findWithHash(token)).row;
  const view = (r: SshLoginRow): SshLoginView => ({
    code: r.code,
    target: r.target,
    clientAddress: r.clientAddress,
    clientVersion: r.clientVersion,
    createdAt: r.createdAt.toISOString(),
    expiresAt: r.expiresAt.toISOString(),
    state: r.state,
    confirmedBy: r.confirmedBy,
  });

  return {
    async begin(start) {
      const token = newLinkToken();
      const code = loginCode();
      const expiresAt = await db.transaction(async (tx) => {
        const at = await saveSshLogin(tx, { tokenHash: hash(token), code, ...start, brokerId: deps.brokerId, seconds: config.sshDoor.loginSeconds });
        await audit.append({ actor: 'anonymous', action: 'ssh.login.issued', subject: start.target, details: { ...start, expiresAt: at.toISOString() } }, tx);
        return at;
      });
      return { token, code, url: `${config.publicUrl}/ssh/${token}`, expiresAt };
    },

    async view(token, viewer) {
      return { ...view(await find(token)), ...(viewer ? { yourAddress: viewer.address } : {}) };
    },

    async confirm(token, principal) {
      if (!principal.browserSession) throw new SallyportError('UNAUTHENTICATED', 'confirm an SSH login from a browser login');
      if (principal.via === 'cli') throw new SallyportError('ACCESS_DENIED', 'a command-line login cannot confirm logins: confirm it in a browser logged in through the identity provider');
      const found = await findWithHash(token);
      const row = found.row;
      const done = await db.transaction(async (tx) => {
        if (!(await confirmSshLogin(tx, found.hash, principal.userId, Buffer.from(principal.browserSession!, 'hex')))) return false;
        await audit.append(
          {
            actor: `user:${principal.userId}`,
            action: 'ssh.login.confirmed',
            subject: row.target,
            details: { username: principal.username, target: row.target, clientAddress: row.clientAddress, clientVersion: row.clientVersion },
          },
          tx,
        );
        return true;
      });
      if (!done) {
        throw new SallyportError('CONFLICT', row.state === 'confirmed' ? 'this SSH login was already confirmed: a link works once' : 'this SSH login has expired: connect again for a new link');
      }
      return view({ ...row, state: 'confirmed', confirmedBy: principal.username });
    },

    async take(tokens) {
      const byHash = new Map(tokens.map((t) => [hash(t).toString('hex'), t]));
      const taken = await takeSshLogins(db, tokens.map(hash));
      return new Map(
        taken.map((t) => [
          byHash.get(t.tokenHash.toString('hex'))!,
          t.login && toPrincipal(t.login.user, t.login.groups, t.login.roles as Role[], t.login.authTime, t.login.browserSession),
        ]),
      );
    },

    async abandoned(start, why) {
      await audit.append({ actor: 'anonymous', action: 'ssh.login.abandoned', subject: start.target, details: { ...start, why } });
    },
  };
}
