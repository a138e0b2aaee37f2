// What recordings say, on real parts (Docker console, PostgreSQL, the broker's API): screen
// text and typed commands are indexed while recording; search finds them across every
// recording the user may see (with filters) and names the moment; the command timeline is
// reconstructed from input; input typed without echo (a password prompt) is stored masked
// and the recording says masking happened.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { appendRecordingChunk, createRecording, sealRecording } from '../server/db/index.js';
import { eventLine, parseAsciicast, Recorder } from '../server/recording/index.js';
import { startTestBroker, type TestBroker } from './support/broker.js';
import { apiSession, type ApiSession } from './support/api-session.js';
import { connectConsole, PROMPT } from './support/console-client.js';
import { writeConsoleCatalog } from './support/console-catalog.js';

let t: TestBroker;
let alice: ApiSession, bob: ApiSession, carol: ApiSession;
let sessionId: string;
const SECRET = 'hunter2-Tr0ub4dor';

beforeAll(async () => {
  t = await startTestBroker({ SALLYPORT_CATALOG: writeConsoleCatalog(inject('consoleImage')), CONSOLE_GREETING: 'x' });
  [alice, bob, carol] = (await Promise.all(['alice', 'bob', 'carol'].map((u) => apiSession(t, u)))) as [ApiSession, ApiSession, ApiSession];
  const c = await connectConsole(t.url, 'shell', { cookie: `sallyport=${alice.browser.cookies(t.url).get('sallyport')}` });
  await c.waitFor(PROMPT);
  sessionId = c.sessionId();
  // Typed key by key, as a person would, with a typo fixed by backspace.
  for (const ch of 'echo "invoice-4711 refunded"X\x7f\r') c.type(ch);
  await c.waitFor(/^invoice-4711 refunded\r?$/m);
  await new Promise((r) => setTimeout(r, 1100));
  // A password prompt: echo off, type the secret, echo back on.
  c.type('stty -echo; printf "Password: "; read pw; stty echo; echo; echo "got ${#pw} chars"\r');
  await c.waitFor(/Password: $/);
  for (const ch of `${SECRET}\r`) c.type(ch);
  await c.waitFor(/got 17 chars/);
  await new Promise((r) => setTimeout(r, 400));
  c.type('exit\r');
  await c.closed;
});
afterAll(async () => {
  await t?.close();
});

describe('recordings, in words', () => {
  it('rebuild the command timeline from input, with times, and mask what was typed without echo', async () => {
    const r = await alice.get(`/api/sessions/${sessionId}/commands`);
    expect(r.status).toBe(200);
    expect(r.body.reconstructed).toMatch(/from recorded input/);
    const lines = r.body.commands.map((c: { line: string; masked: boolean }) => [c.line, c.masked]);
    expect(lines).toEqual([
      ['echo "invoice-4711 refunded"', false],
      ['stty -echo; printf "Password: "; read pw; stty echo; echo; echo "got ${#pw} chars"', false],
      ['•'.repeat(SECRET.length), true],
      ['exit', false],
    ]);
    const times = r.body.commands.map((c: { t: number }) => c.t);
    expect([...times].sort((a, b) => a - b)).toEqual(times);
    expect(times[1] - times[0]).toBeGreaterThan(1);
  });

  it('never store the secret, and say in the recording that masking happened', async () => {
    const res = await fetch(`${t.url}/api/sessions/${sessionId}/recording`, { headers: { cookie: `sallyport=${alice.browser.cookies(t.url).get('sallyport')}` } });
    const cast = await res.text();
    expect(cast).not.toContain(SECRET);
    expect(cast).not.toContain('hunter2');
    const { events } = parseAsciicast(cast);
    expect(events.filter((e) => e.code === 'm').map((e) => e.data)).toEqual([`input not echoed: ${SECRET.length} characters masked`]);
    const db = t.broker.db;
    for (const table of ['recording_text', 'recording_commands']) {
      const col = table === 'recording_text' ? 'text' : 'line';
      expect((await db.query(`select count(*)::int as n from ${table} where ${col} like '%hunter2%'`)).rows[0].n).toBe(0);
    }
    // Nor in the queue the index is built from.
    expect((await db.query(`select count(*)::int as n from recording_index_queue where text like '%hunter2%' or commands::text like '%hunter2%'`)).rows[0].n).toBe(0);
    // Echoed input is recorded as typed, so the timeline and replay stay faithful.
    expect(events.filter((e) => e.code === 'i').map((e) => e.data).join('')).toContain('echo "invoice-4711 refunded"X\x7f');
  });

  it('are found by search, at the moment they were shown, by whoever may see them', async () => {
    // The index is built a moment after the chunk is stored (off the console's path): within 5 s.
    const search = () => carol.get(`/api/search?q=${encodeURIComponent('invoice-4711')}`);
    const ofSession = (r: { body: any }) => r.body.results.filter((h: { sessionId: string }) => h.sessionId === sessionId);
    await expect.poll(async () => ofSession(await search()).length, { timeout: 5000 }).toBe(2);
    const words = await search();
    expect(words.status).toBe(200);
    const hits = ofSession(words);
    expect(hits.map((h: { kind: string }) => h.kind).sort()).toEqual(['input', 'output']);
    const output = hits.find((h: { kind: string }) => h.kind === 'output');
    expect(output).toMatchObject({ username: 'alice', target: 'shell', grantId: null });
    expect(output.snippet).toMatch(/invoice-4711 refunded/);
    const timeline = (await carol.get(`/api/sessions/${sessionId}/commands`)).body.commands;
    // The hit names the end of the chunk (at most ~1 s of output) that showed it.
    expect(output.t).toBeGreaterThanOrEqual(timeline[0].t);
    expect(output.t).toBeLessThan(timeline[1].t + 1);

    // Full-text words and substrings (trigram) both work.
    expect((await carol.get(`/api/search?q=refunded`)).body.results.length).toBeGreaterThan(0);
    expect((await carol.get(`/api/search?q=voice-47`)).body.results.length).toBeGreaterThan(0);
    // Filters: user, target, time range, approval.
    expect((await carol.get(`/api/search?q=refunded&user=alice&target=shell`)).body.results.length).toBeGreaterThan(0);
    expect((await carol.get(`/api/search?q=refunded&user=bob`)).body.results).toEqual([]);
    expect((await carol.get(`/api/search?q=refunded&target=gated`)).body.results).toEqual([]);
    expect((await carol.get(`/api/search?q=refunded&approved=true`)).body.results).toEqual([]);
    expect((await carol.get(`/api/search?q=refunded&from=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`)).body.results).toEqual([]);
    // Alice finds her own; bob, who may not see her sessions, finds nothing.
    expect((await alice.get(`/api/search?q=refunded`)).body.results.length).toBeGreaterThan(0);
    expect((await bob.get(`/api/search?q=refunded`)).body.results).toEqual([]);
    expect((await bob.get(`/api/sessions/${sessionId}/commands`)).status).toBe(404);
    // Nothing finds the secret; wildcards are literal.
    expect((await carol.get(`/api/search?q=${encodeURIComponent(SECRET)}`)).body.results).toEqual([]);
    expect((await carol.get(`/api/search?q=${encodeURIComponent('%%')}`)).body.results).toEqual([]);
    const bad = await carol.get(`/api/search?q=x`);
    expect(bad.status).toBe(400);
    expect(bad.body.error.problems[0].field).toBe('q');
  });

  it('index a flood chunk at its start and end only (a bounded cost per MiB), whole words, and drain the queue', async () => {
    // A chunk grows while storage is slow; here one with ~1.9 MB of distinct words in 64 KiB
    // output events, stored and queued as the recorder does (the indexer reads it back).
    const words = Array.from({ length: 300_000 }, (_, i) => `w${i}`).join(' ');
    const events = Array.from({ length: Math.ceil(words.length / 65536) }, (_, i) => eventLine(1000 + i / 1000, 'o', words.slice(i * 65536, (i + 1) * 65536))).join('');
    const data = Buffer.from(events);
    await t.broker.db.query(
      `with chunk as (insert into recording_chunks (session_id, seq, data, hash, t_start, t_end) values ($1, 100000, $2, 'x', 1000, 1001))
       insert into recording_index_queue (session_id, seq, output_bytes) values ($1, 100000, $3)`,
      [sessionId, data, data.length],
    );
    const found = async (q: string) => (await carol.get(`/api/search?q=${q}`)).body.results.filter((h: { sessionId: string }) => h.sessionId === sessionId).length;
    await expect.poll(() => found('w299999'), { timeout: 5000 }).toBeGreaterThan(0);
    expect(await found('w0')).toBeGreaterThan(0);
    // The middle of a second's flood is in the recording (and its replay), not in the index.
    expect(await found('w150000')).toBe(0);
    const indexed = (await t.broker.db.query(`select string_agg(text, '') as text from recording_text where session_id = $1 and seq = 100000`, [sessionId])).rows[0].text as string;
    expect(indexed.length).toBeLessThanOrEqual(8192 + 3);
    for (const w of indexed.split(/\s+/).filter((x) => x !== '…' && x)) expect(w, 'a whole word').toMatch(/^w\d+$/);
    expect(new Set(indexed.split(/\s+/)).has('w1')).toBe(true);
    expect((await t.broker.db.query(`select count(*)::int as n from recording_index_queue where session_id = $1`, [sessionId])).rows[0].n).toBe(0);
  });

  it('store bulk output compressed, yet replay, download, search and verify it byte for byte', async () => {
    const c = await connectConsole(t.url, 'shell', { cookie: `sallyport=${alice.browser.cookies(t.url).get('sallyport')}` });
    await c.waitFor(PROMPT);
    const id = c.sessionId();
    c.type('seq 1 60000; echo "bulk-""done"; exit\r');
    await c.closed;
    expect(c.output()).toContain('bulk-done');
    await expect.poll(async () => (await t.broker.db.query(`select 1 from audit_checkpoints where recording_session = $1`, [id])).rowCount, { timeout: 15_000 }).toBe(1);
    const stored = (await t.broker.db.query(`select sum(octet_length(data))::int as stored, sum(coalesce(raw_bytes, octet_length(data)))::int as recorded, count(*) filter (where encoding is not null)::int as deflated from recording_chunks where session_id = $1`, [id])).rows[0];
    expect(stored.deflated).toBeGreaterThan(0);
    expect(stored.stored).toBeLessThan(stored.recorded / 2);
    const cast = await (await fetch(`${t.url}/api/sessions/${id}/recording`, { headers: { cookie: `sallyport=${carol.browser.cookies(t.url).get('sallyport')}` } })).arrayBuffer();
    expect(cast.byteLength).toBe(stored.recorded);
    const { sha256 } = (await carol.get(`/api/sessions/${id}`)).body.recording;
    const { createHash } = await import('node:crypto');
    expect(createHash('sha256').update(Buffer.from(cast)).digest('hex')).toBe(sha256);
    expect(parseAsciicast(Buffer.from(cast).toString()).events.filter((e) => e.code === 'o').map((e) => e.data).join('')).toContain('59999\r\n60000');
    // The player's index names each chunk's recorded size, and the chunks it fetches add up.
    const index = (await carol.get(`/api/sessions/${id}/index`)).body as { chunks: Array<[number, number, number, number]> };
    const last = index.chunks.at(-1)![0];
    const res = await fetch(`${t.url}/api/sessions/${id}/chunks?from=1&to=${Math.min(last, 16)}`, { headers: { cookie: `sallyport=${carol.browser.cookies(t.url).get('sallyport')}` } });
    expect((await res.arrayBuffer()).byteLength).toBe(index.chunks.filter((ch) => ch[0] >= 1 && ch[0] <= Math.min(last, 16)).reduce((a, ch) => a + ch[3], 0));
    await expect.poll(async () => (await carol.get('/api/search?q=bulk-done')).body.results.some((h: { sessionId: string }) => h.sessionId === id), { timeout: 10_000 }).toBe(true);
  });

  it('find a word the recorder split between two chunks', async () => {
    // The broker's recorder, storing into this broker's database: a word printed half before a
    // flush and half after it, as a program writing slowly does.
    const id = randomUUID();
    const user = (await t.broker.db.query(`select id from users where username = 'alice'`)).rows[0].id;
    await t.broker.db.query(
      `insert into console_sessions (id, user_id, target, runtime, image, command, broker_id) values ($1, $2, 'shell', 'docker', 'img', '{sh}', $3)`,
      [id, user, t.broker.instanceId],
    );
    const db = t.broker.db;
    const rec = await Recorder.start(
      { create: (s2, h) => createRecording(db, s2, h as unknown as Record<string, unknown>), append: (s2, q, d, c, m) => appendRecordingChunk(db, s2, q, d, c, m), seal: (s2, x) => sealRecording(db, s2, x) },
      id,
      { version: 2, width: 80, height: 24, timestamp: 0 },
      { recordInput: true, onFailure: (e) => console.error(e), flushIntervalMs: 50 },
    );
    rec.output('deploying \x1b[1mzebra-cros');
    await new Promise((r) => setTimeout(r, 300));
    rec.output('sing-7731\x1b[0m done\r\n');
    await rec.seal();
    await t.broker.db.query(`update console_sessions set ended_at = now(), end_reason = 'exited' where id = $1`, [id]);
    expect(Number((await t.broker.db.query(`select count(*) as n from recording_chunks where session_id = $1`, [id])).rows[0].n)).toBeGreaterThanOrEqual(3);
    const found = async (q: string) => ((await carol.get(`/api/search?q=${q}`)).body.results as Array<{ sessionId: string }>).some((h) => h.sessionId === id);
    await expect.poll(() => found('zebra-crossing-7731'), { timeout: 10_000 }).toBe(true);
    expect(await found('crossing')).toBe(true);
  });

  it('index a row queued before migration 018, which carries its screen text itself', async () => {
    await t.broker.db.query(`insert into recording_index_queue (session_id, seq, t, text) values ($1, 0, 0, 'queued-by-an-older-broker')`, [sessionId]);
    await expect.poll(async () => (await carol.get(`/api/search?q=queued-by-an-older-broker`)).body.results.length, { timeout: 5000 }).toBeGreaterThan(0);
  });
});
