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
}
