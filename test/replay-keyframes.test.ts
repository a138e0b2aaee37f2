// Replay that scales. Keyframes are snapshots of a headless xterm (the browser player's exact
// version); restoring one and replaying what follows must give the same screen as replaying
// everything, at many points of a recording full of colours, cursor moves, clears and resizes.
// Then through the broker: a real console's long output gets keyframes after it is sealed, and
// the player's API serves the index, one keyframe and bounded chunk windows — to those who may
// see the session.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { eventLine } from '../server/recording/index.js';
import { chunkEvents } from '../server/recording/asciicast.js';
import { buildKeyframes, headlessScreen } from '../server/recording/keyframes.js';
import { PACKAGE_ROOT } from '../server/paths.js';
import { keyframeProcess } from '../server/replay/keyframe-process.js';
import { apiSession, type ApiSession } from './support/api-session.js';
import { startTestBroker, type TestBroker } from './support/broker.js';
import { connectConsole, PROMPT } from './support/console-client.js';
import { writeConsoleCatalog } from './support/console-catalog.js';

/** A deterministic, busy terminal session split into ~1 s chunks. */
function syntheticChunks(): Array<{ seq: number; data: Buffer; t_end: number }> {
  let seed = 42;
  const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
  const chunks: Array<{ seq: number; data: Buffer; t_end: number }> = [{ seq: 0, data: Buffer.from('{"version":2}\n'), t_end: 0 }];
  let t = 0;
  for (let seq = 1; seq <= 120; seq++) {
    let text = '';
    for (let i = 0; i < 40; i++) {
      t += 0.02;
      const kind = rnd(10);
      let data: string;
      if (kind === 0) data = `\x1b[${1 + rnd(24)};${1 + rnd(80)}H\x1b[3${rnd(8)}mX\x1b[0m`;
      else if (kind === 1 && rnd(20) === 0) data = '\x1b[2J\x1b[H';
      else if (kind === 2) data = `\x1b[1;4${rnd(8)}m${'#'.repeat(rnd(60))}\x1b[0m\r\n`;
      else data = `line ${seq}.${i} ${'abcdefghij'.repeat(rnd(12))} ünïcødé ✓\r\n`;
      text += eventLine(t, 'o', data);
      if (seq % 37 === 0 && i === 20) text += eventLine(t, 'r', `${60 + rnd(60)}x${20 + rnd(20)}`);
    }
    chunks.push({ seq, data: Buffer.from(text), t_end: t });
  }
  return chunks;
}

async function replay(header: { width: number; height: number }, chunks: Array<{ data: Buffer }>, start?: { cols: number; rows: number; screen: string }) {
  const screen = headlessScreen(start?.cols ?? header.width, start?.rows ?? header.height);
  if (start) await screen.write(start.screen);
  let batch = '';
  for (const c of chunks) {
    for (const e of chunkEvents(c.data)) {
      if (e.code === 'o') batch += e.data;
      else if (e.code === 'r') {
        await screen.write(batch);
        batch = '';
        const [cols, rows] = e.data.split('x').map(Number);
        screen.resize(cols!, rows!);
      }
    }
  }
  await screen.write(batch);
  const lines = screen.lines();
  screen.dispose();
  return lines;
}

describe('keyframes', () => {
  it('restore to the same screen as a full replay, at many points', async () => {
    const header = { width: 80, height: 24 };
    const chunks = syntheticChunks();
    async function* stream() {
      yield* chunks;
    }
    const keyframes = [];
    for await (const k of buildKeyframes(header, stream(), { everyBytes: 32 * 1024 })) keyframes.push(k);
    expect(keyframes.length).toBeGreaterThan(8);
    // After each keyframe, at the keyframe itself and a few chunks on.
    let compared = 0;
    for (const k of keyframes) {
      for (const ahead of [0, 1, 3]) {
        const upTo = k.afterChunk + ahead;
        if (upTo >= chunks.length) continue;
        const full = await replay(header, chunks.slice(1, upTo + 1));
        const fromKeyframe = await replay(header, chunks.slice(k.afterChunk + 1, upTo + 1), k);
        expect(fromKeyframe, `keyframe ${k.n} + ${ahead} chunks`).toEqual(full);
        compared++;
      }
    }
    expect(compared).toBeGreaterThan(20);
  });

  it('built in the builder process are the same as built in the broker, and a builder that dies fails only its build', async () => {
    const header = { width: 80, height: 24 };
    const chunks = syntheticChunks();
    async function* stream(upTo = chunks.length) {
      yield* chunks.slice(0, upTo);
    }
    const inline = [];
    for await (const k of buildKeyframes(header, stream(), { everyBytes: 32 * 1024 })) inline.push(k);
    const builder = keyframeProcess();
    try {
      const apart = [];
      for await (const k of builder.build(header, stream(), { everyBytes: 32 * 1024 })) apart.push(k);
      expect(apart).toEqual(inline);
      // One build at a time: a second one while the first runs is refused, not mixed into it.
      const first = builder.build(header, stream(), { everyBytes: 32 * 1024 });
      await first.next();
      await expect(builder.build(header, stream()).next()).rejects.toThrow(/busy/);
      await first.return(undefined);
      // The same builder takes the next recording.
      const again = [];
      for await (const k of builder.build(header, stream(40), { everyBytes: 32 * 1024 })) again.push(k);
      expect(again).toEqual(inline.filter((k) => k.afterChunk < 40));
      // Its process killed mid-build: that build fails with a reason; the next one works.
      const killing = (async function* () {
        for (const [i, c] of chunks.entries()) {
          if (i === 30) process.kill(builder.pid!, 'SIGKILL');
          yield c;
        }
      })();
      await expect(async () => {
        for await (const _ of builder.build(header, killing, { everyBytes: 32 * 1024 })) void _;
      }).rejects.toThrow(/keyframe builder exited/);
      const after = [];
      for await (const k of builder.build(header, stream(20), { everyBytes: 32 * 1024 })) after.push(k);
      expect(after).toEqual(inline.filter((k) => k.afterChunk < 20));
    } finally {
      await builder.close();
    }
  });

  it('come from the same xterm version as the browser player', () => {
    const version = (pkg: string) => JSON.parse(readFileSync(join(PACKAGE_ROOT, 'node_modules', pkg, 'package.json'), 'utf8')).version;
    expect(version('@xterm/headless')).toBe(version('@xterm/xterm'));
  });
});

describe('the replay API', () => {
  let t: TestBroker;
  let alice: ApiSession, bob: ApiSession, carol: ApiSession;
  let id: string;
  beforeAll(async () => {
    t = await startTestBroker({ SALLYPORT_CATALOG: writeConsoleCatalog(inject('consoleImage')), CONSOLE_GREETING: 'x' });
    [alice, bob, carol] = (await Promise.all(['alice', 'bob', 'carol'].map((u) => apiSession(t, u)))) as [ApiSession, ApiSession, ApiSession];
    const c = await connectConsole(t.url, 'shell', { cookie: `sallyport=${alice.browser.cookies(t.url).get('sallyport')}` });
    await c.waitFor(PROMPT);
    id = c.sessionId();
    c.type('seq 1 120000; exit\n');
    await c.closed;
    // Keyframes are built in the background once the recording is sealed.
    for (let i = 0; i < 200 && !(await carol.get(`/api/sessions/${id}/index`)).body.keyframesReady; i++) await new Promise((r) => setTimeout(r, 100));
  });
  afterAll(async () => {
    await t?.close();
  });

  it('serves the index, keyframes and bounded chunk windows to those who may see the session', async () => {
    const index = (await carol.get(`/api/sessions/${id}/index`)).body;
    expect(index).toMatchObject({ width: 80, height: 24, keyframesReady: true });
    expect(index.keyframes.length).toBeGreaterThanOrEqual(2); // ~800 KB of output
    const times = index.chunks.map((c: number[]) => c[1]);
    expect([...times].sort((a, b) => a - b)).toEqual(times);
    const [n, kt, after] = index.keyframes.at(-1);
    const k = (await carol.get(`/api/sessions/${id}/keyframes/${n}`)).body;
    expect(k).toMatchObject({ t: kt, afterChunk: after, cols: 80, rows: 24 });
    expect(k.screen).toMatch(/\d{5,6}/);

    const res = await fetch(`${t.url}/api/sessions/${id}/chunks?from=1&to=3`, { headers: { cookie: `sallyport=${carol.browser.cookies(t.url).get('sallyport')}` } });
    expect(res.headers.get('content-type')).toMatch(/ndjson/);
    const lines = (await res.text()).split('\n').filter(Boolean);
    expect(JSON.parse(lines[0]!)[1]).toMatch(/^[oirm]$/);

    expect((await carol.get(`/api/sessions/${id}/chunks?from=1&to=40`)).status).toBe(400);
    expect((await carol.get(`/api/sessions/${id}/chunks?from=5&to=2`)).body.error.problems[0].field).toBe('to');
    expect((await bob.get(`/api/sessions/${id}/index`)).status).toBe(404);
    expect((await bob.get(`/api/sessions/${id}/keyframes/0`)).status).toBe(404);
    expect((await alice.get(`/api/sessions/${id}/keyframes/0`)).status).toBe(200);
  });
});
