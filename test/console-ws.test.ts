// Browser consoles over the WebSocket, end to end on real parts: a production-mode broker, the
// real Docker engine, real PostgreSQL. A console runs, is recorded byte for byte, and its
// container is gone on every way it ends; refused or malformed starts create no container.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { readRecordingChunks } from '../server/db/index.js';
import { parseAsciicast } from '../server/recording/index.js';
import { Browser, startTestBroker, type TestBroker } from './support/broker.js';
import { connectConsole, PROMPT } from './support/console-client.js';
import { brokerContainers, expectNoContainers } from './support/docker.js';
import { writeConsoleCatalog } from './support/console-catalog.js';

let t: TestBroker;
let cookie: string;
let bobCookie: string;
let carolCookie: string;

const containers = () => brokerContainers(t.broker.instanceId);
const waitNoContainers = () => expectNoContainers(t.broker.instanceId);
async function sessionRow(id: string) {
  return (await t.broker.db.query(`select * from console_sessions where id = $1`, [id])).rows[0];
}
async function recordingText(id: string): Promise<string> {
  const parts: Buffer[] = [];
  for await (const c of readRecordingChunks(t.broker.db, id)) parts.push(c);
  return Buffer.concat(parts).toString('utf8');
}

beforeAll(async () => {
  const catalog = writeConsoleCatalog(inject('consoleImage'));
  t = await startTestBroker({ SALLYPORT_CATALOG: catalog, CONSOLE_GREETING: 'hello-from-catalogue' });
  const login = async (user: string) => {
    const b = new Browser();
    await t.login(b, user);
    return `sallyport=${b.cookies(t.url).get('sallyport')}`;
  };
  cookie = await login('alice');
  bobCookie = await login('bob');
  carolCookie = await login('carol');
});
afterAll(async () => {
  await t?.close();
});

describe('a browser console', () => {
  it('runs the target, records every byte the user saw, reports the exit status and leaves no container', async () => {
    const c = await connectConsole(t.url, 'shell', { cookie, open: { cols: 90, rows: 30 } });
    await c.waitFor(PROMPT);
    const started = c.messages.find((m) => m.type === 'started')!;
    const id = started.sessionId as string;
    expect(containers()).toHaveLength(1);

    c.type('echo "$GREETING" $((6*7)) "h\u00e9llo-w\u00f6rld"\n');
    await c.waitFor(/hello-from-catalogue 42 héllo-wörld/);
    c.send({ type: 'resize', cols: 120, rows: 40 });
    c.type('stty size\n');
    await c.waitFor(/^40 120\r?$/m);
    // At the prompt: keys typed ahead of it are echoed after other output, and so masked.
    await c.waitFor(PROMPT);
    c.type('exit 7\n');
    const closed = await c.closed;
    expect(closed.code).toBe(1000);
    expect(c.messages.at(-1)).toEqual({ type: 'exit', reason: 'process exited', code: 'process_exited', exitCode: 7 });
    await waitNoContainers();

    const row = await sessionRow(id);
    expect(row).toMatchObject({ target: 'shell', end_reason: 'process exited', end_code: 'process_exited', exit_code: 7 });
    expect(row.image_id).toMatch(/^sha256:/);

    // The recording replays exactly what the client saw.
    const text = await recordingText(id);
    const { header, events } = parseAsciicast(text);
    expect(header).toMatchObject({ version: 2, width: 90, height: 30, command: 'sh' });
    expect(events.filter((e) => e.code === 'o').map((e) => e.data).join('')).toBe(c.output());
    // Output went as binary frames: the bytes received are the recording's output, byte for byte.
    expect(c.outputBytes().equals(Buffer.from(events.filter((e) => e.code === 'o').map((e) => e.data).join('')))).toBe(true);
    expect(events.filter((e) => e.code === 'i').map((e) => e.data).join('')).toContain('exit 7\n');
    expect(events.some((e) => e.code === 'r' && e.data === '120x40')).toBe(true);
    expect(events.every((e, i) => i === 0 || e.time >= events[i - 1]!.time)).toBe(true);
    // Sealed with the hash of exactly those bytes; no secret from the environment in its header.
    const rec = (await t.broker.db.query(`select sha256, size_bytes::int as size from recordings where session_id = $1`, [id])).rows[0];
    expect(rec.sha256).toBe(createHash('sha256').update(text).digest('hex'));
    expect(rec.size).toBe(Buffer.byteLength(text));
    expect(JSON.stringify(header)).not.toContain('hello-from-catalogue');

    const audit = (await t.broker.audit.list({})).filter((e) => e.subject === id);
    expect(audit.map((e) => e.action)).toEqual(['console.opened', 'console.ended']);
    expect(audit[0]!.details).toMatchObject({ target: 'shell', username: 'alice', imageId: row.image_id, containerId: row.container_id });
    expect(audit[1]!.details).toMatchObject({ reason: 'process exited', exitCode: 7, recordingSha256: rec.sha256 });
  });

  it('does not record typed input on a target with recordInput: false, but still records output', async () => {
    const c = await connectConsole(t.url, 'quiet', { cookie });
    await c.waitFor(PROMPT);
    const id = c.sessionId();
    c.type('echo "vis""ible"; exit\n');
    await c.closed;
    const { events } = parseAsciicast(await recordingText(id));
    expect(events.some((e) => e.code === 'i')).toBe(false);
    expect(events.filter((e) => e.code === 'o').map((e) => e.data).join('')).toContain('visible');
  });

  it('is removed when the browser goes away', async () => {
    const c = await connectConsole(t.url, 'shell', { cookie });
    await c.waitFor(PROMPT);
    const id = c.sessionId();
    c.ws.terminate();
    await waitNoContainers();
    await expect.poll(async () => (await sessionRow(id)).end_reason).toBe('client disconnected');
  });

  it('ends on the idle timeout and tells the user why', async () => {
    const c = await connectConsole(t.url, 'sleepy', { cookie });
    await c.waitFor(PROMPT);
    const closed = await c.closed;
    expect(closed.reason).toBe('idle timeout');
    expect(c.messages.at(-1)).toMatchObject({ type: 'exit', reason: 'idle timeout' });
    await waitNoContainers();
  });

  it('takes a 100 KiB paste of two-byte characters whole, in frames the browser splits between characters', async () => {
    const c = await connectConsole(t.url, 'shell', { cookie });
    await c.waitFor(PROMPT);
    c.type('stty -echo; cat | wc -c; stty echo\n');
    await new Promise((r) => setTimeout(r, 300));
    const line = `${'\u00e9'.repeat(50)}\n`;
    c.type(line.repeat(1000));
    c.type('\x04');
    await c.waitFor(/^101000\r?$/m, 15_000);
    c.type('exit\n');
    expect((await c.closed).code).toBe(1000);
  });

  it('refuses typed input that is JSON, is not UTF-8 or comes before the open, naming what is wrong', async () => {
    const cases: Array<[(c: Awaited<ReturnType<typeof connectConsole>>) => void, RegExp]> = [
      [(c) => c.send({ type: 'input', data: 'ls\n' }), /binary frames/],
      [(c) => c.ws.send(Buffer.from([0x6c, 0xff, 0x0a]), { binary: true }), /input must be UTF-8/],
    ];
    for (const [send, reason] of cases) {
      const c = await connectConsole(t.url, 'shell', { cookie });
      await c.waitFor(PROMPT);
      send(c);
      const closed = await c.closed;
      expect(closed.code).toBe(1008);
      expect(closed.reason).toMatch(reason);
    }
    const early = await connectConsole(t.url, 'shell', { cookie, open: false });
    early.type('ls\n');
    expect(await early.closed).toMatchObject({ code: 1008, reason: 'open the console first' });
    await waitNoContainers();
  });

  it('ends when the user presses End session, even while a process runs away, and says so', async () => {
    const c = await connectConsole(t.url, 'shell', { cookie });
    await c.waitFor(PROMPT);
    c.type('while :; do :; done\n');
    await new Promise((r) => setTimeout(r, 300));
    c.send({ type: 'end' });
    await c.closed;
    expect(c.messages.find((m) => m.type === 'exit')).toMatchObject({ reason: 'ended by the user', code: 'user_ended' });
    await waitNoContainers();
    expect((await t.broker.db.query(`select end_code from console_sessions where id = $1`, [c.sessionId()])).rows[0].end_code).toBe('user_ended');
  });

  it('is closed with a reason on a malformed message, and its container removed', async () => {
    const c = await connectConsole(t.url, 'shell', { cookie });
    await c.waitFor(PROMPT);
    c.send({ type: 'resize', cols: 0, rows: 'x' });
    const closed = await c.closed;
    expect(closed.code).toBe(1008);
    expect(closed.reason).toMatch(/cols must be an integer/);
    await waitNoContainers();
  });
});

describe('sessions and recordings', () => {
  const api = async (path: string, who: string) => {
    const res = await fetch(`${t.url}${path}`, { headers: { cookie: who, accept: 'application/json' } });
    return { status: res.status, type: res.headers.get('content-type'), disposition: res.headers.get('content-disposition'), text: await res.text() };
  };

  it('alice sees her own sessions, bob none of them, carol (auditor) all; the download plays in asciinema', async () => {
    const c = await connectConsole(t.url, 'shell', { cookie });
    await c.waitFor(PROMPT);
    const id = c.sessionId();
    c.type('printf "\\033[1;32mgreen\\033[0m done\\n"; exit\n');
    await c.closed;
    await waitNoContainers();

    const mine = JSON.parse((await api('/api/sessions', cookie)).text).sessions;
    expect(mine.length).toBeGreaterThan(0);
    expect(mine.every((s: { username: string }) => s.username === 'alice')).toBe(true);
    const s = mine.find((x: { id: string }) => x.id === id);
    expect(s).toMatchObject({ target: 'shell', endReason: 'process exited', exitCode: 0, command: ['sh'] });
    expect(s.imageId).toMatch(/^sha256:/);
    expect(s.durationSeconds).toBeGreaterThan(0);
    expect(s.bytesOut).toBeGreaterThan(0);
    expect(s.recording.sha256).toMatch(/^[0-9a-f]{64}$/);

    expect(JSON.parse((await api('/api/sessions', bobCookie)).text).sessions).toEqual([]);
    expect((await api(`/api/sessions/${id}`, bobCookie)).status).toBe(404);
    expect((await api(`/api/sessions/${id}/recording`, bobCookie)).status).toBe(404);
    expect((await api(`/api/sessions/not-a-uuid`, cookie)).status).toBe(400);

    const all = JSON.parse((await api('/api/sessions', carolCookie)).text).sessions;
    expect(all.map((x: { id: string }) => x.id)).toContain(id);
    const download = await api(`/api/sessions/${id}/recording`, carolCookie);
    expect(download.status).toBe(200);
    expect(download.type).toMatch(/application\/x-asciicast/);
    expect(download.disposition).toMatch(/attachment; filename="sallyport-.*\.cast"/);
    expect(createHash('sha256').update(download.text).digest('hex')).toBe(s.recording.sha256);

    const file = join(mkdtempSync(join(tmpdir(), 'sallyport-cast-')), 'session.cast');
    writeFileSync(file, download.text);
    // asciinema insists on a terminal: give it a pty in raw mode so no byte is rewritten.
    const played = execFileSync('script', ['-qec', `stty raw -echo; asciinema cat ${file}`, '/dev/null'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    expect(played).toBe(c.output());
    expect(played).toContain('\x1b[1;32mgreen\x1b[0m done');
  });
});

describe('refused before any container exists', () => {
  it('a cross-site Origin', async () => {
    await expect(connectConsole(t.url, 'shell', { cookie, origin: 'https://evil.example' })).rejects.toThrow(/403/);
    expect(containers()).toEqual([]);
  });

  it('no session cookie', async () => {
    await expect(connectConsole(t.url, 'shell', {})).rejects.toThrow(/401/);
  });

  it('an oversized first message', async () => {
    const c = await connectConsole(t.url, 'shell', { cookie, open: false });
    c.send({ type: 'open', cols: 80, rows: 24, pad: 'x'.repeat(70 * 1024) });
    expect((await c.closed).code).toBe(1009);
    expect(containers()).toEqual([]);
  });

  it('a malformed open', async () => {
    for (const bad of ['not json', { type: 'open', cols: 80 }, { type: 'open', cols: 5000, rows: 24 }, { type: 'launch' }, { type: 'input', data: 'ls\n' }]) {
      const c = await connectConsole(t.url, 'shell', { cookie, open: false });
      c.send(bad);
      const closed = await c.closed;
      expect(closed.code, JSON.stringify(bad)).toBe(1008);
      expect(closed.reason.length).toBeGreaterThan(5);
    }
    expect(containers()).toEqual([]);
  });

  it('a target that needs approval, one the user may not use, and one that does not exist', async () => {
    for (const [target, who, code] of [
      ['gated', cookie, 'APPROVAL_REQUIRED'],
      ['ops-only', cookie, 'ACCESS_DENIED'],
      ['shell', bobCookie, 'ACCESS_DENIED'],
      ['no-such-target', cookie, 'NOT_FOUND'],
    ] as const) {
      const c = await connectConsole(t.url, target, { cookie: who });
      const closed = await c.closed;
      expect(c.messages[0], target).toMatchObject({ type: 'error', code });
      expect(closed.code).toBe(1011);
    }
    expect(containers()).toEqual([]);
  });

  it('a missing image, with a clear error within 5 s', async () => {
    const started = Date.now();
    const c = await connectConsole(t.url, 'missing-image', { cookie });
    await c.closed;
    expect(Date.now() - started).toBeLessThan(5000);
    expect(c.messages[0]).toMatchObject({ type: 'error', code: 'IMAGE_NOT_FOUND' });
    expect(containers()).toEqual([]);
  });
});
