// Logins for the SSH front door. A stock `ssh` client cannot do OIDC, so the connection is shown
// a link and a short code; whoever opens the link in a browser (logged in, through the IdP as
// usual), checks the code and confirms becomes the user the connection continues as. The
// link's token is a secret: only its keyed hash is stored. The row is in the database, so the
// link works on any broker; the connection's broker takes the confirmed row once.
import { createHash } from 'node:crypto';
import type { AuditLog } from '../audit/index.js';
import type { Config, Role } from '../config/index.js';
import { confirmSshLogin, findSshKeyLogin, getSshLogin, listSshKeyLogins, rememberSshKey, revokeSshKeyLogin, saveSshLogin, takeSshLogins, touchBrowserSession, type Database, type SshLoginRow } from '../db/index.js';
import { hasRole } from '../access/index.js';
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
  /**
   * The user a key the client proved it holds logs in as, when a browser login confirmed that key
   * and still lives (touched, like any use of the login); null otherwise. Audited when it does.
   */
  keyLogin(key: SshKey, start: SshLoginStart): Promise<Principal | null>;
  /** After a browser confirmed a connection that proved `key`: remember it for that login. */
  rememberKey(principal: Principal, key: SshKey, start: SshLoginStart): Promise<{ fingerprint: string; expiresAt: Date } | null>;
  /** The principal's remembered keys in force. */
  keys(principal: Principal): Promise<Array<{ id: string; fingerprint: string; algorithm: string; createdAt: Date; expiresAt: Date; lastUsedAt: Date | null }>>;
  /** Revokes one of the principal's keys, or anyone's for an admin; audited. */
  revokeKey(principal: Principal, id: string): Promise<void>;
}

/** A public key the client proved it holds: its blob (the SSH wire encoding) and algorithm. */
export interface SshKey {
  algorithm: string;
  blob: Buffer;
}

const keyId = (blob: Buffer) => createHash('sha256').update(blob).digest('hex');
const keyFingerprint = (blob: Buffer) => `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;

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

    async keyLogin(key, start) {
      if (config.sshDoor.keyLoginHours === 0) return null;
      const found = await findSshKeyLogin(db, keyId(key.blob));
      if (!found) return null;
      // The login the key belongs to, as any request of it would find it: ended, expired or idle, no login.
      const row = await touchBrowserSession(db, found.browser_session, config.session.idleTimeoutSeconds);
      if (!row || row.user.id !== found.user_id) return null;
      const principal = toPrincipal(row.user, row.groups, row.roles as Role[], row.authTime, found.browser_session, { via: row.via, scope: row.scope });
      await audit.append({ actor: `user:${principal.userId}`, action: 'ssh.key.login', subject: start.target, details: { username: principal.username, fingerprint: keyFingerprint(key.blob), ...start } });
      return principal;
    },

    async rememberKey(principal, key, start) {
      if (config.sshDoor.keyLoginHours === 0 || !principal.browserSession || principal.via === 'cli') return null;
      return db.transaction(async (tx) => {
        const row = await rememberSshKey(tx, {
          keySha256: keyId(key.blob),
          publicKey: `${key.algorithm} ${key.blob.toString('base64')}`,
          userId: principal.userId,
          browserSession: Buffer.from(principal.browserSession!, 'hex'),
          hours: config.sshDoor.keyLoginHours,
        });
        if (!row) return null;
        const fingerprint = keyFingerprint(key.blob);
        await audit.append({ actor: `user:${principal.userId}`, action: 'ssh.key.remembered', subject: fingerprint, details: { username: principal.username, fingerprint, expiresAt: row.expires_at.toISOString(), clientAddress: start.clientAddress } }, tx);
        return { fingerprint, expiresAt: row.expires_at };
      });
    },

    async keys(principal) {
      return (await listSshKeyLogins(db, principal.userId)).map((k) => {
        const [algorithm, b64] = k.public_key.split(' ');
        return { id: k.key_sha256, fingerprint: keyFingerprint(Buffer.from(b64!, 'base64')), algorithm: algorithm!, createdAt: k.created_at, expiresAt: k.expires_at, lastUsedAt: k.last_used_at };
      });
    },

    async revokeKey(principal, id) {
      if (!/^[0-9a-f]{64}$/.test(id)) throw new SallyportError('NOT_FOUND', `no SSH key ${id}`);
      await db.transaction(async (tx) => {
        const row = await revokeSshKeyLogin(tx, id, principal.userId, hasRole(principal, 'admin') ? null : principal.userId);
        if (!row) throw new SallyportError('NOT_FOUND', `no SSH key ${id} in force`);
        const fingerprint = keyFingerprint(Buffer.from(row.public_key.split(' ')[1]!, 'base64'));
        await audit.append({ actor: `user:${principal.userId}`, action: 'ssh.key.revoked', subject: fingerprint, details: { by: principal.username, username: row.username, fingerprint } }, tx);
      });
    },
  };
}
