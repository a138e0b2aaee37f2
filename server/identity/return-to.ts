// Where the browser goes after login. Only paths on the broker's own origin are allowed; a
// protocol-relative or absolute foreign URL is refused, so a login link cannot become an
// open redirect.
import { invalidInput, type SallyportError } from '../errors.js';

export function safeReturnTo(returnTo: string | undefined, publicUrl: string): string {
  if (returnTo === undefined || returnTo === '') return '/';
  if (returnTo.length > 2048 || !returnTo.startsWith('/') || returnTo.startsWith('//') || /[\\\s\x00-\x1f]/.test(returnTo)) {
    throw invalid();
  }
  let url: URL;
  try {
    url = new URL(returnTo, publicUrl);
  } catch {
    throw invalid();
  }
  if (url.origin !== new URL(publicUrl).origin || url.pathname.startsWith('/auth/')) throw invalid();
  return `${url.pathname}${url.search}${url.hash}`;
}

function invalid(): SallyportError {
  return invalidInput([{ field: 'returnTo', message: 'must be a same-origin path such as /sessions' }], 'returnTo must be a path on this site');
}
