// returnTo, property-tested: whatever string a login link carries, the path the broker would
// redirect to is on its own origin, read the way a browser resolves a Location header.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { safeReturnTo } from '../../server/identity/return-to.js';

const PUBLIC = 'https://sallyport.example.com';
const RUNS = Number(process.env.FUZZ_RUNS ?? 5000);

/** Strings built from the pieces open redirects are made of. */
const hostile = fc
  .array(fc.constantFrom('/', '\\', '.', '..', '//', '%2f', '%2F', '%5c', 'evil.example', '@', ':', '?', '#', 'http:', 'https:', '\t', ' ', 'a', '~', '%00', '%09', 'auth'), {
    maxLength: 12,
  })
  .map((parts) => parts.join(''));

function accepted(value: string): string | undefined {
  try {
    return safeReturnTo(value, PUBLIC);
  } catch {
    return undefined;
  }
}

describe('safeReturnTo', () => {
  it('refuses /.//evil.example and its relatives (the reported bypass)', () => {
    for (const v of ['/.//evil.example', '/./\\evil.example', '/a/..//evil.example', '/%2e//evil.example', '/.//evil.example/x?y#z']) {
      const out = accepted(v);
      if (out !== undefined) expect(new URL(out, PUBLIC).origin, v).toBe(PUBLIC);
      expect(out?.startsWith('//') ?? false, v).toBe(false);
    }
    expect(accepted('/.//evil.example')).toBeUndefined();
  });

  it('only ever yields a same-origin path, never under /auth/', () => {
    fc.assert(
      fc.property(fc.oneof(hostile, fc.string(), fc.webPath(), fc.webUrl()), (value) => {
        const out = accepted(value);
        if (out === undefined) return;
        expect(out.startsWith('/')).toBe(true);
        expect(out.startsWith('//')).toBe(false);
        expect(out.startsWith('/\\')).toBe(false);
        // As a browser resolves the Location header against the broker's origin.
        const resolved = new URL(out, PUBLIC);
        expect(resolved.origin).toBe(PUBLIC);
        expect(resolved.pathname.startsWith('/auth/')).toBe(false);
      }),
      { numRuns: RUNS },
    );
  });

  it('keeps ordinary paths as they are', () => {
    fc.assert(
      fc.property(
        fc.webPath().filter((p) => {
          if (!p.startsWith('/') || p.startsWith('//') || /[\\\s]/.test(p)) return false;
          const norm = new URL(p, PUBLIC).pathname;
          return !norm.startsWith('//') && !norm.startsWith('/auth/');
        }),
        (path) => {
          expect(accepted(path)).toBe(new URL(path, PUBLIC).pathname);
        },
      ),
      { numRuns: 1000 },
    );
  });
});
