// Who is asking: what identity establishes from a live browser session (later an SSH login),
// and what the access layer decides about. The type lives with its producer.
import type { Role } from '../config/index.js';

export interface Principal {
  readonly userId: string;
  readonly issuer: string;
  readonly subject: string;
  readonly username: string;
  readonly displayName: string | null;
  readonly email: string | null;
  readonly groups: readonly string[];
  readonly roles: readonly Role[];
  readonly authTime: Date;
  /**
   * The login this principal came from, as the keyed hash of its browser session (hex); a
   * console opened with it ends when that login ends. Absent for other doors.
   */
  readonly browserSession?: string;
  /**
   * How the login was made: `cli` is a command-line login (a bearer token a browser login
   * confirmed), which may not confirm further logins. Absent: a browser login.
   */
  readonly via?: 'browser' | 'cli';
  /** `admin`: the admin and audit API only (a command-line login's default). Absent: full. */
  readonly scope?: 'full' | 'admin';
  /** The address this request came from (behind a trusted proxy, the client's), for audit events. */
  readonly clientAddress?: string;
}

/** A frozen Principal from a user row and the browser login it came through. */
export function toPrincipal(
  user: { id: string; issuer: string; subject: string; username: string; display_name: string | null; email: string | null },
  groups: string[],
  roles: Role[],
  authTime: Date,
  sessionHash: Buffer,
  login: { via: 'browser' | 'cli'; scope: 'full' | 'admin' } = { via: 'browser', scope: 'full' },
): Principal {
  return Object.freeze({
    browserSession: sessionHash.toString('hex'),
    via: login.via,
    scope: login.scope,
    userId: user.id,
    issuer: user.issuer,
    subject: user.subject,
    username: user.username,
    displayName: user.display_name,
    email: user.email,
    groups: Object.freeze([...groups]),
    roles: Object.freeze([...roles]),
    authTime,
  });
}
