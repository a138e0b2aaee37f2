// The short code a login link shows on both ends (the terminal and the browser page), so the
// person confirming can check the link is the one their own terminal asked for.
import { randomInt } from 'node:crypto';

/** Letters only, no vowels (no words), none that read alike. */
const CODE_LETTERS = 'BCDFGHJKLMNPQRSTVWXZ';

/** Eight letters in two groups, e.g. `KXQT-BRMW`. */
export function loginCode(): string {
  const letters = Array.from({ length: 8 }, () => CODE_LETTERS[randomInt(CODE_LETTERS.length)]).join('');
  return `${letters.slice(0, 4)}-${letters.slice(4)}`;
}
