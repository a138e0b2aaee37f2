// Where the browser goes after login. Only paths on the broker's own origin are allowed; a
// protocol-relative or absolute foreign URL is refused, so a login link cannot become an
// open redirect. The value returned is checked, after normalising, not only the raw input:
// `/.//evil.example` normalises to `//evil.example`, which a browser reads as another host.
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
  const origin = new URL(publicUrl).origin;
  if (url.origin !== origin || url.pathname.startsWith('/auth/')) throw invalid();
  const out = `${url.pathname}${url.search}${url.hash}`;
  // What the Location header will say must itself be a same-origin path, read the way a browser reads it.
  if (!out.startsWith('/') || out.startsWith('//') || out.startsWith('/\\') || new URL(out, origin).origin !== origin) throw invalid();
  return out;
}

function invalid(): SallyportError {
  return invalidInput([{ field: 'returnTo', message: 'must be a same-origin path such as /sessions' }], 'returnTo must be a path on this site');
}
