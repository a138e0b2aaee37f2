// The pieces every login link is made of (the SSH door's and `sallyport admin login`'s): a
// random token in the link, the short code shown on both ends (the terminal and the browser
// page) so the person confirming can check the link is the one their own terminal asked for,
// and the keyed hash that is all the database keeps of a token. Browser session ids are keyed
// the same way (identity.ts): a copy of the tables confirms and takes nothing.
import { createCipheriv, createDecipheriv, createHmac, randomBytes, randomInt } from 'node:crypto';

/** Letters only, no vowels (no words), none that read alike. */
const CODE_LETTERS = 'BCDFGHJKLMNPQRSTVWXZ';

/** Eight letters in two groups, e.g. `KXQT-BRMW`. */
export function loginCode(): string {
  const letters = Array.from({ length: 8 }, () => CODE_LETTERS[randomInt(CODE_LETTERS.length)]).join('');
  return `${letters.slice(0, 4)}-${letters.slice(4)}`;
}

/** A link token or poll secret: 24 random bytes, 32 base64url characters. */
export function newLinkToken(): string {
  return randomBytes(24).toString('base64url');
}

/** Anything but 32 base64url characters is not one of ours (and is never looked up). */
export function isLinkToken(token: string): boolean {
  return /^[A-Za-z0-9_-]{32}$/.test(token);
}

/** HMAC-SHA256 under the session secret, separated by purpose. */
export function keyedHash(secret: string, purpose: string, value: string): Buffer {
  return createHmac('sha256', secret).update(`${purpose}\0${value}`).digest();
}

/**
 * Seals a value kept in the database only while a browser logs in (where it returns to, which may
 * be a login link such as /ssh/<token>): AES-256-GCM under a key derived from the login's binding,
 * which only that browser's cookie holds. A reader of the table learns nothing from it.
 */
export function sealForBinding(secret: string, binding: string, value: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', keyedHash(secret, 'login-return-to', binding), iv);
  const body = Buffer.concat([cipher.update(value, 'utf8'), cipher.final()]);
  return `v1.${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url')}`;
}

/** The sealed value, or null when it was not sealed for this binding (or was changed). */
export function openForBinding(secret: string, binding: string, sealed: string): string | null {
  if (!sealed.startsWith('v1.')) return null;
  const raw = Buffer.from(sealed.slice(3), 'base64url');
  if (raw.length < 28) return null;
  try {
    const decipher = createDecipheriv('aes-256-gcm', keyedHash(secret, 'login-return-to', binding), raw.subarray(0, 12));
    decipher.setAuthTag(raw.subarray(12, 28));
    return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
  } catch {
    return null;
  }
}
