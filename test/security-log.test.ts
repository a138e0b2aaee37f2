// The security log an operator ships to a SIEM: a real `sallyport serve` process writes one JSON
// line per audit event once it is committed — with the user, the target and the session id —
// and every line it writes is an event the audit table holds (that a rolled-back event is never
// told is database.test.ts's). Request ids travel in X-Request-Id.
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Browser, type TestBroker } from './support/broker.js';
import { connectConsole, PROMPT } from './support/console-client.js';
import { waitFor } from './support/process.js';
import { startServeBeside } from './support/replica.js';

interface LogLine {
  level: number;
  msg: string;
  reqId?: string;
  security?: { seq: string; action: string; actor: string; subject: string | null; details: Record<string, unknown> };
}

let h: TestBroker;
let url: string;
let cookie: string;
let stop: () => Promise<void>;
const lines: LogLine[] = [];

beforeAll(async () => {
  const started = await startServeBeside(inject('consoleImage'), { SALLYPORT_LOG_LEVEL: 'info' });
  ({ h, url, stop } = started);
  createInterface({ input: started.child.stdout! }).on('line', (l) => {
    try {
      lines.push(JSON.parse(l) as LogLine);
    } catch {
      // not a log line
    }
  });
  const b = new Browser();
  await h.login(b, 'alice');
  cookie = `sallyport=${b.cookies(h.url).get('sallyport')}`;
});
afterAll(async () => {
  await stop?.();
});

const security = (action: string) => lines.filter((l) => l.security?.action === action).map((l) => l.security!);

describe('the security log', () => {
  it('has one line per committed audit event, naming the user, the target and the session', async () => {
    // Written before the logger existed, kept until it did.
    expect(security('broker.started')).toHaveLength(1);

    const c = await connectConsole(url, 'shell', { cookie, origin: h.url });
    await c.waitFor(PROMPT);
    const sessionId = c.sessionId();
    c.type('exit\n');
    await c.closed;
    await waitFor('console.ended logged', async () => (security('console.ended').length ? true : undefined), 10_000);
    const [opened] = security('console.opened');
    expect(opened).toMatchObject({ subject: sessionId, actor: expect.stringMatching(/^user:/), details: { username: 'alice', target: 'shell', via: 'web' } });
    expect(security('console.ended')).toEqual([expect.objectContaining({ subject: sessionId, details: expect.objectContaining({ target: 'shell', code: 'process_exited' }) })]);
    const line = lines.find((l) => l.security?.action === 'console.opened')!;
    expect(line.msg).toBe('security event console.opened');
    expect(line.level).toBe(30);

    // The same lines, in the same order, as the audit table holds: nothing logged twice.
    const stored = (await h.broker.db.query(`select seq::text from audit_events where action in ('console.opened', 'console.ended') and subject = $1 order by seq`, [sessionId])).rows.map((r) => r.seq);
    expect(lines.filter((l) => l.security?.subject === sessionId).map((l) => l.security!.seq)).toEqual(stored);
  });

  it('logs a failed login and a console that failed to start, each an event the audit table holds', async () => {
    const res = await fetch(`${url}/auth/callback?code=x&state=forged`, { redirect: 'manual' });
    expect(res.status).toBeGreaterThanOrEqual(400);
    await waitFor('login_failed logged', async () => (security('auth.login_failed').length ? true : undefined), 10_000);
    expect(security('auth.login_failed')[0]!.details).toMatchObject({ stage: 'callback' });

    // A console whose image is missing fails to start: the failure is logged.
    const c = await connectConsole(url, 'missing-image', { cookie, origin: h.url });
    await c.closed;
    await waitFor('console.failed logged', async () => (security('console.failed').length ? true : undefined), 10_000);
    const seqs = new Set((await h.broker.db.query(`select seq::text from audit_events`)).rows.map((r) => r.seq as string));
    for (const l of lines) if (l.security) expect(seqs.has(l.security.seq), `${l.security.action} ${l.security.seq} is stored`).toBe(true);
  });

  it('logs requests under the caller’s X-Request-Id when it is a plain token', async () => {
    const id = 'siem-correlate-0001';
    const res = await fetch(`${url}/api/me`, { headers: { 'x-request-id': id, cookie } });
    expect(res.headers.get('x-request-id')).toBe(id);
    await waitFor('request logged', async () => (lines.some((l) => l.reqId === id) ? true : undefined), 5_000);
  });
});
