// Every untrusted parser, property-tested with fast-check: whatever arrives, the answer is a
// value of the documented shape or the project's own clear error (never a crash, never another
// error type). Seeds are printed on failure; `npm run fuzz` runs far more cases.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseCatalog } from '../../server/catalog/load.js';
import { searchRecordings } from '../../server/db/index.js';
import { isSallyportError } from '../../server/errors.js';
import { encodeInput } from '../../server/http/console-wire.js';
import { parseClientFrame } from '../../server/http/routes/console-ws.js';
import { EchoMask } from '../../server/recording/index.js';
import { keysTyped } from '../../server/recording/transcript.js';
import { verifyBundle } from '../../server/verify/index.js';
import { useDatabase } from '../support/postgres.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 3000);
const few = Math.max(100, Math.floor(RUNS / 20));

describe('console WebSocket frames', () => {
  const messageLike = fc.oneof(
    fc.string(),
    fc.json(),
    fc.record({ type: fc.constantFrom('open', 'input', 'resize', 'close', ''), cols: fc.anything(), rows: fc.anything(), data: fc.anything() }, { requiredKeys: [] }).map((o) => JSON.stringify(o)),
  );
  const expectBadRequest = (err: unknown) => {
    expect(isSallyportError(err, 'BAD_REQUEST')).toBe(true);
    expect((err as { problems: Array<{ field: string }> }).problems[0]!.field).toBeTruthy();
  };
  it('text frames are an open, a resize or an end, or a BAD_REQUEST naming the field', () => {
    fc.assert(
      fc.property(messageLike, (raw) => {
        let msg;
        try {
          msg = parseClientFrame(Buffer.from(raw), false);
        } catch (err) {
          return expectBadRequest(err);
        }
        expect(['open', 'resize', 'end']).toContain(msg.type);
        if (msg.type === 'open' || msg.type === 'resize') for (const v of [msg.cols, msg.rows]) expect(Number.isInteger(v) && v >= 1 && v <= 1000).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });
  it('binary frames are typed text when they are UTF-8, a BAD_REQUEST naming input when not', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        let msg;
        try {
          msg = parseClientFrame(Buffer.from(bytes), true);
        } catch (err) {
          expectBadRequest(err);
          expect(Buffer.from(Buffer.from(bytes).toString('utf8')).equals(Buffer.from(bytes))).toBe(false);
          return;
        }
        expect(msg).toEqual({ type: 'input', data: Buffer.from(bytes).toString('utf8') });
      }),
      { numRuns: RUNS },
    );
  });
  it('a paste of any size is split into frames that each decode on their own and add up to it', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40_000 }), (text) => {
        const frames = encodeInput(text);
        let joined = '';
        for (const f of frames) {
          expect(f.length).toBeLessThanOrEqual(16 * 1024);
          const msg = parseClientFrame(Buffer.from(f), true);
          if (msg.type === 'input') joined += msg.data;
        }
        expect(joined).toBe(text);
      }),
      { numRuns: few },
    );
  });
});

describe('catalogue files', () => {
  const target = fc.record(
    {
      name: fc.oneof(fc.string(), fc.constantFrom('shell', 'billing-prod', 'Bad Name')),
      description: fc.oneof(fc.string(), fc.constant('x')),
      runtime: fc.oneof(fc.constantFrom('docker', 'kubernetes'), fc.anything()),
      image: fc.oneof(fc.string(), fc.constant(`sha256:${'a'.repeat(64)}`)),
      command: fc.oneof(fc.array(fc.string()), fc.string()),
      limits: fc.oneof(fc.anything(), fc.constant({ memory: '64m', cpus: 0.5, pids: 32, maxDuration: '1h', idleTimeout: '15m' })),
      allow: fc.oneof(fc.anything(), fc.constant({ groups: ['developers'] })),
      environment: fc.dictionary(fc.string(), fc.oneof(fc.string(), fc.record({ fromEnv: fc.string() }))),
      approval: fc.anything(),
    },
    { requiredKeys: [] },
  );
  const file = fc.oneof(
    fc.string(),
    fc.record({ version: fc.oneof(fc.constant(1), fc.anything()), targets: fc.oneof(fc.array(target, { maxLength: 3 }), fc.anything()) }).map((d) => JSON.stringify(d)),
  );
  it('parse to targets or to problems that each name a field, never throw', () => {
    fc.assert(
      fc.property(file, (text) => {
        const r = parseCatalog(text, { requireDigest: true, env: {} });
        if (r.ok) {
          expect(r.targets.length).toBeGreaterThan(0);
          return;
        }
        expect(r.problems.length).toBeGreaterThan(0);
        for (const p of r.problems) {
          expect(typeof p.field).toBe('string');
          expect(p.field.length).toBeGreaterThan(0);
          expect(typeof p.message).toBe('string');
        }
      }),
      { numRuns: few * 5 },
    );
  });
});

describe('evidence bundles', () => {
  it('that are not bundles are refused with a reason, never a crash', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 4096 }), async (bytes) => {
        const report = await verifyBundle(Buffer.from(bytes));
        expect(report.ok).toBe(false);
        expect(typeof report.summary).toBe('string');
      }),
      { numRuns: few },
    );
  });
});

describe('typed input', () => {
  it('is recorded masked whenever other output comes before its echo, unless that output ends a prompt', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 40 }).filter((s) => /[!-~]/.test(s) && !s.startsWith('#')), fc.string({ maxLength: 200 }), (typed, other) => {
        // The keys shown right after a prompt's end is the typed-ahead case (the next property holds then).
        fc.pre(!shownAfterPrompt(typed, `#${other}${typed}`));
        const recorded: string[] = [];
        const m = new EchoMask({ input: (d) => recorded.push(d), masked: () => undefined }, 1000);
        m.input(typed);
        // Other output first (a background job), then the typed text itself.
        m.output(`#${other}`);
        m.output(typed);
        m.flush();
        // Only masks and control characters (Enter, backspace) may be left of what was typed.
        expect([...recorded.join('')].every((c) => c === '•' || c < ' ' || c === '\x7f')).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });
});

/** Whether `out` shows `typed` right after a prompt's end (`$`, `#`, `%`, `>`, and a space or not). */
function shownAfterPrompt(typed: string, out: string): boolean {
  for (let i = out.indexOf(typed, 1); i > 0; i = out.indexOf(typed, i + 1)) if (/[$#%>] ?$/.test(out.slice(Math.max(0, i - 2), i))) return true;
  return false;
}

describe('input recorded in clear', () => {
  it('is only ever input the output itself shows verbatim, whatever comes and in whatever pieces', () => {
    const piece = fc.oneof(fc.string({ maxLength: 30 }), fc.constantFrom('$ ', '> ', '# ', 'Password: ', '\r\n', '\x1b[0m'));
    fc.assert(
      fc.property(fc.stringMatching(/^[ -~]{1,24}$/), fc.array(piece, { maxLength: 8 }), fc.boolean(), (typed, pieces, echoAtEnd) => {
        const recorded: string[] = [];
        const m = new EchoMask({ input: (d) => recorded.push(d), masked: () => undefined }, 1000);
        m.input(`${typed}\r`);
        const shown = echoAtEnd ? [...pieces, typed] : pieces;
        for (const p of shown) m.output(p);
        m.flush();
        const clear = recorded.join('').replace(/[•\r]/g, '');
        // Nothing typed is in the record unless the screen showed exactly those keys.
        return clear === '' || shown.join('').replace(/\x1b\[0m|[\r\n]/g, '').includes(typed);
      }),
      { numRuns: RUNS },
    );
  });
});

describe('masked input', () => {
  it('is one mask per character typed, with every control kept in its place', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.string({ unit: 'grapheme' }), fc.string({ unit: 'binary' }), fc.constantFrom('\r', '\x7f', '\x15', '\t', '😀', '\ud800', '\udc00x')), { maxLength: 8 }), (parts) => {
        const typed = parts.join('');
        const recorded: string[] = [];
        let counted = 0;
        const m = new EchoMask({ input: (d) => recorded.push(d), masked: (n) => (counted += n) }, 1000);
        m.input(`${typed}a`);
        m.flush();
        const keys = keysTyped(`${typed}a`);
        // The reference: each code point that is not a control becomes a mask.
        const expected = [...keys].map((c) => (/^[\x00-\x1f\x7f]$/.test(c) ? c : '•')).join('');
        expect(recorded.join('')).toBe(expected);
        expect(counted).toBe([...expected].filter((c) => c === '•').length);
      }),
      { numRuns: RUNS },
    );
  });
});

describe('search queries', () => {
  const handle = useDatabase();
  it('answer rows or nothing for any text, never a database error', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.string({ minLength: 2, maxLength: 200 }), fc.constantFrom('"unclosed', 'a & | !b', "o'reilly", '\\', '%_%', ':* <->', 'or -')), async (q) => {
        const rows = await searchRecordings(handle.db, { query: q, limit: 5 });
        expect(Array.isArray(rows)).toBe(true);
      }),
      { numRuns: few },
    );
  });
});
