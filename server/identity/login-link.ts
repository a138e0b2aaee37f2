// The pieces every login link is made of (the SSH door's and `sallyport admin login`'s): a
// random token in the link, the short code shown on both ends (the terminal and the browser
// page) so the person confirming can check the link is the one their own terminal asked for,
// and the keyed hash that is all the database keeps of a token. Browser session ids are keyed
// the same way (identity.ts): a copy of the tables confirms and takes nothing.
import { createHmac, randomBytes, randomInt } from 'node:crypto';

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
