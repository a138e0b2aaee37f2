// Every other way a console ends leaves no container and a finished recording: maximum
// duration, a recording the database refuses to store (fail closed) and a broker that drains on
// shutdown. A broker killed with SIGKILL is taken over: test/brokers.test.ts.
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Browser, startTestBroker, type TestBroker } from './support/broker.js';
import { connectConsole, PROMPT } from './support/console-client.js';
import { brokerContainers, expectNoContainers } from './support/docker.js';
import { writeConsoleCatalog } from './support/console-catalog.js';
import { freshDatabase } from './support/postgres.js';

let catalog: string;

const containers = brokerContainers;
async function loginCookie(t: TestBroker, user = 'alice'): Promise<string> {
  const b = new Browser();
  await t.login(b, user);
  return `sallyport=${b.cookies(t.url).get('sallyport')}`;
}

beforeAll(() => {
  catalog = writeConsoleCatalog(inject('consoleImage'));
});

describe('in one broker', () => {
  let t: TestBroker;
  let cookie: string;
  beforeAll(async () => {
    t = await startTestBroker({ SALLYPORT_CATALOG: catalog, CONSOLE_GREETING: 'x' });
    cookie = await loginCookie(t);
  });
  afterAll(async () => {
    await t?.close();
  });

  it('ends a console at its maximum duration even while it is in use', async () => {
    const c = await connectConsole(t.url, 'brief', { cookie });
    await c.waitFor(PROMPT);
    const typing = setInterval(() => c.type('true\n'), 500);
    try {
      const closed = await c.closed;
      expect(closed.reason).toBe('maximum duration reached');
    } finally {
      clearInterval(typing);
    }
    await expectNoContainers(t.broker.instanceId);
  });

  it('a client that stops reading stalls the container instead of growing the broker', async () => {
    const c = await connectConsole(t.url, 'shell', { cookie });
    await c.waitFor(PROMPT);
    const id = c.sessionId();
    const container = containers(t.broker.instanceId)[0]!;
    // 12 MiB in → 16 MiB of base64 out: far more than the 1 MiB the broker lets pile up.
    c.type('head -c 12582912 /dev/zero | base64 -w 76; echo "DO""NE"\n');
    await c.waitFor(/AAAA/);
    c.ws.pause();
    // What this process (broker and paused client) holds after a full collection: the client
    // takes nothing while paused, so any growth is what the broker kept (vitest runs with
    // --expose-gc). Kernel socket buffers fill first and are not counted.
    // Twice, a turn apart: buffers are freed by a collection after the one that finds them dead.
    const held = async () => {
      global.gc!();
      await new Promise((r) => setImmediate(r));
      global.gc!();
      const m = process.memoryUsage();
      return m.heapUsed + m.external;
    };
    const before = await held();
    await new Promise((r) => setTimeout(r, 4000));
    const grown = (await held()) - before;
    // Unpaused, this finishes in under 2 s; paused, base64 is still blocked writing to its TTY.
    expect(execFileSync('docker', ['top', container], { encoding: 'utf8' })).toMatch(/base64/);
    // At most the 1 MiB send buffer and the 2 MiB recording backlog; unbounded, the 16 MiB.
    expect(grown).toBeLessThan(8 * 1024 * 1024);
    c.ws.resume();
    await c.waitFor(/^DONE/m, 60_000);
    c.type('exit\n');
    await c.closed;
    // Nothing was lost on the way: the recording holds exactly what the client received.
    const parts: string[] = [];
    for await (const chunk of (await import('../server/db/index.js')).readRecordingChunks(t.broker.db, id)) parts.push(chunk.toString('utf8'));
    const recorded = parts
      .join('')
      .split('\n')
      .slice(1)
      .filter(Boolean)
      .map((l) => JSON.parse(l) as [number, string, string])
      .filter((e) => e[1] === 'o')
      .map((e) => e[2])
      .join('');
    expect(recorded.length).toBe(c.output().length);
    expect(recorded === c.output()).toBe(true);
  }, 90_000);

  it('survives its container vanishing while input is still being written to it, and ends that console', async () => {
    const c = await connectConsole(t.url, 'shell', { cookie });
    await c.waitFor(PROMPT);
    const id = c.sessionId();
    c.type('cat > /dev/null\n');
    await new Promise((r) => setTimeout(r, 300));
    // Keys keep coming while the container goes (an operator's `docker rm -f`, an engine
    // restart): some are written to the engine's socket after it has closed.
    const typing = setInterval(() => c.ws.readyState === c.ws.OPEN && c.type('y'), 1);
    await new Promise((r) => setTimeout(r, 200));
    execFileSync('docker', ['rm', '-f', `sallyport-${id}`]);
    const closed = await c.closed.finally(() => clearInterval(typing));
    expect(closed.code).toBe(1000);
    expect(c.messages.some((m) => m.type === 'exit')).toBe(true);
    // The broker is still there for everyone else.
    const other = await connectConsole(t.url, 'shell', { cookie });
    await other.waitFor(PROMPT);
    other.type('echo still-here\n');
    await other.waitFor(/^still-here\r?$/m);
    other.type('exit\n');
    await other.closed;
    const row = (await t.broker.db.query(`select ended_at, end_code from console_sessions where id = $1`, [id])).rows[0];
    expect(row.ended_at).not.toBeNull();
  }, 60_000);

  it('opens no console when its recording cannot be started: RECORDING_FAILED, no container, no session', async () => {
    const before = (await t.broker.db.query(`select count(*)::int as n from console_sessions`)).rows[0].n;
    // A real refusal by PostgreSQL of every new recording header.
    await t.broker.db.query(`alter table recording_chunks add constraint no_new_recordings check (seq > 0) not valid`);
    try {
      const c = await connectConsole(t.url, 'shell', { cookie });
      await c.closed;
      expect(c.messages[0]).toMatchObject({ type: 'error', code: 'RECORDING_FAILED', message: expect.stringMatching(/recording could not be started/) });
      expect(brokerContainers(t.broker.instanceId)).toEqual([]);
      expect((await t.broker.db.query(`select count(*)::int as n from console_sessions`)).rows[0].n).toBe(before);
    } finally {
      await t.broker.db.query(`alter table recording_chunks drop constraint no_new_recordings`).catch(() => {});
    }
  });

  it('fails closed: when the database refuses the recording, the session ends with a message', async () => {
    const c = await connectConsole(t.url, 'shell', { cookie });
    await c.waitFor(PROMPT);
    const id = c.sessionId();
    // A real refusal by PostgreSQL, as a full disk or a revoked grant would cause.
    await t.broker.db.query(`alter table recording_chunks add constraint no_more_chunks check (session_id <> '${id}') not valid`);
    try {
      c.type('echo "more output"\n');
      const closed = await c.closed;
      expect(closed.reason).toBe('recording failed');
      expect(c.messages.some((m) => m.type === 'notice' && /Recording failed/.test(String(m.message)))).toBe(true);
      await expectNoContainers(t.broker.instanceId);
      const row = (await t.broker.db.query(`select end_reason from console_sessions where id = $1`, [id])).rows[0];
      expect(row.end_reason).toBe('recording failed');
    } finally {
      await t.broker.db.query(`alter table recording_chunks drop constraint no_more_chunks`).catch(() => {});
    }
  });
});

describe('broker shutdown', () => {
  it('tells live consoles, seals their recordings and removes their containers', async () => {
    const tdb = await freshDatabase();
    const t = await startTestBroker({ SALLYPORT_CATALOG: catalog, CONSOLE_GREETING: 'x' }, { database: tdb });
    const cookie = await loginCookie(t).catch(async (err: unknown) => {
      await t.close();
      throw err;
    });
    const consoles = await Promise.all([connectConsole(t.url, 'shell', { cookie }), connectConsole(t.url, 'shell', { cookie })]);
    await Promise.all(consoles.map((c) => c.waitFor(PROMPT))).catch(async (err: unknown) => {
      await t.close();
      throw err;
    });
    expect(containers(t.broker.instanceId)).toHaveLength(2);
    const ids = consoles.map((c) => c.sessionId());
    const { Client } = (await import('pg')).default;
    const db = new Client({ connectionString: t.db.url });
    await db.connect();
    try {
      await t.close();
      for (const c of consoles) {
        expect(c.messages.at(-1)).toMatchObject({ type: 'exit', reason: 'broker shutting down' });
      }
      expect(containers(t.broker.instanceId)).toEqual([]);
    } finally {
      const { rows } = await db.query(
        `select s.end_reason, r.sha256 from console_sessions s join recordings r on r.session_id = s.id where s.id = any($1::uuid[])`,
        [ids],
      );
      await db.end();
      await tdb.drop();
      expect(rows).toHaveLength(2);
      for (const r of rows) expect(r).toMatchObject({ end_reason: 'broker shutting down', sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
    }
  });
});
