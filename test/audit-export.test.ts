// Exporting the audit trail (JSON lines and CSV) on real parts: the broker over HTTP, real
// PostgreSQL, real logins. What an auditor notices: the file holds exactly what the page's filter
// shows, oldest first, every event recomputes to its stored hash and links to the one before it,
// paging past a thousand events loses none, a spreadsheet does not run a cell, the export is
// itself audited, and a developer gets none of it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { csvCell, hashEvent } from '../server/audit/index.js';
import { startTestBroker, type TestBroker } from './support/broker.js';
import { apiSession, type ApiSession } from './support/api-session.js';

let t: TestBroker;
let alice: ApiSession, carol: ApiSession;

beforeAll(async () => {
  t = await startTestBroker();
  [alice, carol] = (await Promise.all(['alice', 'carol'].map((u) => apiSession(t, u)))) as [ApiSession, ApiSession];
});
afterAll(async () => {
  await t?.close();
});

const download = async (who: ApiSession, query: string) => {
  const hop = await who.browser.request(`${t.url}/api/audit/export?${query}`, { headers: { accept: '*/*' } });
  return { status: hop.status, type: hop.headers.get('content-type'), disposition: hop.headers.get('content-disposition'), body: hop.body };
};

/** RFC 4180, as a spreadsheet reads it: quoted cells may hold commas, quotes and line breaks. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') (cell += '"'), i++;
      else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') row.push(cell), (cell = '');
    else if (c === '\r' && text[i + 1] === '\n') {
      row.push(cell), rows.push(row), (row = []), (cell = ''), i++;
    } else cell += c;
  }
  return rows;
}

describe('audit export', () => {
  it('gives the filtered trail oldest first as JSON lines and CSV, the same events as the page', async () => {
    for (const reason of ['fix BILL-1', '=HYPERLINK("http://evil.example","x"), "quoted" too, BILL-2'])
      expect((await alice.post('/api/access-requests', { target: 'billing-console', reason, durationSeconds: 600 })).status).toBe(201);
    const page = (await carol.get('/api/audit?action=access.')).body.events as Array<{ seq: string; details: { reason?: string } }>;
    expect(page.length).toBeGreaterThanOrEqual(2);

    const jsonl = await download(carol, 'format=jsonl&action=access.');
    expect(jsonl.status).toBe(200);
    expect(jsonl.type).toMatch(/^application\/x-ndjson/);
    expect(jsonl.disposition).toMatch(/^attachment; filename="sallyport-audit-\d{8}T\d{6}Z\.jsonl"$/);
    const lines = jsonl.body.trimEnd().split('\n').map((l) => JSON.parse(l) as { seq: string; action: string; actorName: string; details: { reason?: string } });
    expect(lines.map((l) => l.seq)).toEqual(page.map((e) => e.seq).reverse());
    expect(lines.every((l) => l.action.startsWith('access.'))).toBe(true);
    expect(lines.at(-1)).toMatchObject({ action: 'access.requested', actorName: 'alice', details: { reason: expect.stringContaining('=HYPERLINK') } });

    const csv = await download(carol, 'format=csv&action=access.');
    expect(csv.type).toMatch(/^text\/csv; charset=utf-8/);
    const [header, ...rows] = parseCsv(csv.body);
    expect(header).toEqual(['seq', 'at', 'actor', 'actor_name', 'action', 'subject', 'details', 'prev_hash', 'hash', 'chain_v']);
    expect(rows.map((r) => r[0])).toEqual(lines.map((l) => l.seq));
    // The awkward reason survives quoting whole, inside its JSON details cell.
    expect(JSON.parse(rows.at(-1)![6]!)).toEqual(lines.at(-1)!.details);
    expect(rows.at(-1)![3]).toBe('alice');
  });

  it('is faithful: every line recomputes to its hash and links to the one before, past a page of 1,000', async () => {
    // More than one export page, appended the way the broker appends (one chained event each).
    for (let i = 0; i < 1100; i++) await t.broker.audit.append({ actor: 'system', action: 'catalog.loaded', details: { path: `/bulk/${i}`, sha256: 'x', targets: i } });
    const { body } = await download(carol, 'format=jsonl');
    const lines = body.trimEnd().split('\n').map((l) => JSON.parse(l) as { seq: string; at: string; actor: string; action: string; subject: string | null; details: unknown; prevHash: string; hash: string; actorName: string | null; v: 1 | 2 });
    expect(lines.length).toBeGreaterThan(1100);
    lines.forEach((l, i) => {
      expect(Number(l.seq)).toBe(Number(lines[0]!.seq) + i);
      if (i > 0) expect(l.prevHash).toBe(lines[i - 1]!.hash);
      expect(hashEvent({ v: l.v, seq: l.seq, at: new Date(l.at), actor: l.actor, action: l.action, subject: l.subject, details: l.details, prevHash: l.prevHash })).toBe(l.hash);
    });
    expect(lines[0]!.seq).toBe('1');
    // It ends at its own event, which names who exported what.
    expect(lines.at(-1)).toMatchObject({ action: 'audit.exported', actorName: 'carol', details: { by: 'carol', format: 'jsonl', action: null, subject: null } });
  });

  it('is audited, refused to developers, and names a bad parameter', async () => {
    const exportsBefore = (await carol.get('/api/audit?action=audit.exported')).body.events.length as number;
    expect((await download(alice, 'format=csv')).status).toBe(403);
    const missing = await download(carol, 'action=access.');
    expect(missing.status).toBe(400);
    expect(missing.body).toMatch(/format/);
    const wrong = await download(carol, 'format=xml');
    expect(wrong.status).toBe(400);
    expect(wrong.body).toMatch(/format/);
    expect((await download(carol, 'format=csv&extra=1')).status).toBe(400);
    // None of those exported anything, so none was audited as an export.
    expect((await carol.get('/api/audit?action=audit.exported')).body.events.length).toBe(exportsBefore);
    await download(carol, 'format=csv&subject=nothing-matches');
    const [latest] = (await carol.get('/api/audit?action=audit.exported')).body.events;
    expect(latest).toMatchObject({ actor: 'carol', details: { by: 'carol', format: 'csv', action: null, subject: 'nothing-matches' } });
  });

  it('quotes a cell a spreadsheet would run as a formula', () => {
    expect(csvCell('=1+1')).toBe(`"'=1+1"`);
    expect(csvCell('+cmd')).toBe(`"'+cmd"`);
    expect(csvCell('-2')).toBe(`"'-2"`);
    expect(csvCell('@SUM(A1)')).toBe(`"'@SUM(A1)"`);
    expect(csvCell('a,"b"')).toBe(`"a,""b"""`);
    expect(csvCell('plain')).toBe('plain');
    // Spreadsheets skip leading spaces and read full-width signs as their ASCII forms.
    expect(csvCell(' =1+1')).toBe(`"' =1+1"`);
    expect(csvCell('\u3000=HYPERLINK("x")')).toBe(`"'\u3000=HYPERLINK(""x"")"`);
    expect(csvCell('＝1+1')).toBe(`"'＝1+1"`);
    expect(csvCell('＋cmd')).toBe(`"'＋cmd"`);
    expect(csvCell('a = b')).toBe('a = b');
  });
});
