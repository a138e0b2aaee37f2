// The Sessions list API on real PostgreSQL: everyone sees their own sessions, auditors
// everyone's; filters by user, target, date range, approval, front door and state; keyset
// paging that neither skips nor repeats a row (two sessions started in the same microsecond
// included); and bad filters refused with the field named.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestBroker, type TestBroker } from './support/broker.js';
import { apiSession, type ApiSession } from './support/api-session.js';

let t: TestBroker;
let alice: ApiSession, bob: ApiSession, carol: ApiSession;
const ids: Record<string, string> = {};
const OTHER_BROKER = `sessions-list-${randomUUID()}`;

beforeAll(async () => {
  t = await startTestBroker();
  [alice, bob, carol] = (await Promise.all(['alice', 'bob', 'carol'].map((u) => apiSession(t, u)))) as [ApiSession, ApiSession, ApiSession];
  const grant = (await alice.post('/api/access-requests', { target: 'billing-console', reason: 'fix BILL-7', durationSeconds: 600 })).body.id as string;
  expect((await bob.post(`/api/access-requests/${grant}/decision`, { decision: 'approve' })).body.status).toBe('approved');
  // The live one belongs to a broker that is alive (and is not this one), so nobody reaps it.
  await t.broker.db.query(`insert into brokers (id, version, lease_seconds) values ($1, 'test', 3600)`, [OTHER_BROKER]);
  const user = async (name: string) => (await t.broker.db.query(`select id from users where username = $1`, [name])).rows[0].id as string;
  const rows: Array<{ key: string; who: string; target: string; via: 'web' | 'ssh'; started: string; live?: boolean; grant?: boolean }> = [
    { key: 'a1', who: 'alice', target: 'shell', via: 'web', started: '2026-11-01T09:00:00.000001Z' },
    { key: 'a2', who: 'alice', target: 'shell', via: 'ssh', started: '2026-11-02T09:00:00.000001Z' },
    // Two in the same microsecond: paging must give both, once.
    { key: 'a3', who: 'alice', target: 'billing-console', via: 'web', started: '2026-11-03T09:00:00.123456Z', grant: true },
    { key: 'a4', who: 'alice', target: 'shell', via: 'web', started: '2026-11-03T09:00:00.123456Z' },
    { key: 'a5', who: 'alice', target: 'shell', via: 'web', started: '2026-11-04T23:30:00Z' },
    { key: 'c1', who: 'carol', target: 'shell', via: 'web', started: '2026-11-05T09:00:00Z' },
    { key: 'b1', who: 'bob', target: 'shell', via: 'ssh', started: '2026-11-06T09:00:00Z', live: true },
  ];
  for (const r of rows) {
    // Same start: the id breaks the tie (descending), so a4 sorts before a3.
    ids[r.key] = r.key === 'a4' ? `f${randomUUID().slice(1)}` : r.key === 'a3' ? `0${randomUUID().slice(1)}` : randomUUID();
    await t.broker.db.query(
      `insert into console_sessions (id, user_id, target, runtime, node, image, command, broker_id, via, started_at, grant_id,
                                     ended_at, end_reason, end_code)
       values ($1, $2, $3, 'docker', 'local', 'img@sha256:00', '{sh}', $4, $5, $6::timestamptz, $7,
               case when $8 then null else $6::timestamptz + interval '1 minute' end,
               case when $8 then null else 'process exited' end, case when $8 then null else 'process_exited' end)`,
      [ids[r.key], await user(r.who), r.target, OTHER_BROKER, r.via, r.started, r.grant ? grant : null, r.live ?? false],
    );
  }
  // c1 was terminated by an admin: "Ended by" names them.
  await t.broker.db.query(
    `update console_sessions set end_code = 'terminated', end_reason = 'terminated by dave: wrong customer', terminate_requested_at = ended_at, terminate_by = 'dave' where id = $1`,
    [ids.c1],
  );
});
afterAll(async () => {
  await t?.close();
});

const list = async (who: ApiSession, query = '') => {
  const r = await who.get(`/api/sessions${query}`);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body as { sessions: Array<{ id: string; username: string; endedAt: string | null; approved: boolean; via: string; endedBy: string | null }>; next: string | null };
};
const keys = (sessions: Array<{ id: string }>) => sessions.map((s) => Object.keys(ids).find((k) => ids[k] === s.id));

describe('the Sessions list', () => {
  it('shows a developer only their own sessions, newest first, and an auditor everyone', async () => {
    expect(keys((await list(alice)).sessions)).toEqual(['a5', 'a4', 'a3', 'a2', 'a1']);
    expect(keys((await list(carol)).sessions)).toEqual(['b1', 'c1', 'a5', 'a4', 'a3', 'a2', 'a1']);
    // Asking for someone else's narrows nothing open: alice still sees only hers (none of carol's).
    expect((await list(alice, '?user=carol')).sessions).toEqual([]);
    const [first] = (await list(alice, '?limit=1')).sessions;
    expect(first).toMatchObject({ endedBy: 'process', approved: false, via: 'web' });
    const everyone = (await list(carol)).sessions;
    expect(everyone.find((s) => s.id === ids.c1)?.endedBy).toBe('dave');
    expect(everyone.find((s) => s.id === ids.b1)?.endedBy).toBeNull();
  });

  it('filters by user, target, door, approval, state and date range, together too', async () => {
    expect(keys((await list(carol, '?user=alice')).sessions)).toEqual(['a5', 'a4', 'a3', 'a2', 'a1']);
    expect(keys((await list(carol, '?target=billing-console')).sessions)).toEqual(['a3']);
    expect(keys((await list(carol, '?via=ssh')).sessions)).toEqual(['b1', 'a2']);
    expect(keys((await list(carol, '?approved=yes')).sessions)).toEqual(['a3']);
    expect((await list(carol, '?approved=no')).sessions).toHaveLength(6);
    const live = await list(carol, '?state=live');
    expect(keys(live.sessions)).toEqual(['b1']);
    expect(live.sessions[0]!.endedAt).toBeNull();
    expect((await list(carol, '?state=ended')).sessions).toHaveLength(6);
    // A bare date is a whole (UTC) day, "to" included; an instant is exact.
    expect(keys((await list(carol, '?from=2026-11-02&to=2026-11-04')).sessions)).toEqual(['a5', 'a4', 'a3', 'a2']);
    expect(keys((await list(carol, '?from=2026-11-03T09:00:00.5Z')).sessions)).toEqual(['b1', 'c1', 'a5']);
    expect(keys((await list(carol, '?user=alice&via=web&to=2026-11-03')).sessions)).toEqual(['a4', 'a3', 'a1']);
  });

  it('pages with a token: every row once, in order, across rows started in the same microsecond', async () => {
    const all = keys((await list(carol)).sessions);
    const seen: Array<string | undefined> = [];
    let query = '?limit=2';
    for (let pages = 0; pages < 10; pages++) {
      const page = await list(carol, query);
      expect(page.sessions.length).toBeLessThanOrEqual(2);
      seen.push(...keys(page.sessions));
      if (!page.next) break;
      query = `?limit=2&before=${encodeURIComponent(page.next)}`;
    }
    expect(seen).toEqual(all);
    // Filters and paging together.
    const p1 = await list(carol, '?user=alice&limit=3');
    expect(keys(p1.sessions)).toEqual(['a5', 'a4', 'a3']);
    const p2 = await list(carol, `?user=alice&limit=3&before=${p1.next}`);
    expect(keys(p2.sessions)).toEqual(['a2', 'a1']);
    expect(p2.next).toBeNull();
  });

  it('refuses a bad filter with a 400 naming it', async () => {
    for (const [query, field] of [
      ['?via=ftp', 'via'],
      ['?approved=maybe', 'approved'],
      ['?state=sleeping', 'state'],
      ['?limit=0', 'limit'],
      ['?limit=500', 'limit'],
      ['?from=yesterday-ish', 'from'],
      ['?to=2026-13-45', 'to'],
      ['?from=2026-02-30', 'from'],
      [`?before=${Buffer.from('not a token').toString('base64url')}`, 'before'],
      [`?before=${Buffer.from(`2026-13-45T99:99:99.000000Z|${randomUUID()}`).toString('base64url')}`, 'before'],
      [`?before=${Buffer.from(`2026-02-30T09:00:00.000001Z|${randomUUID()}`).toString('base64url')}`, 'before'],
      [`?before=${Buffer.from(`2026-11-01T09:00:00.000001Z|${'-'.repeat(36)}`).toString('base64url')}`, 'before'],
      ['?color=red', 'color'],
    ] as const) {
      const r = await carol.get(`/api/sessions${query}`);
      expect(r.status, query).toBe(400);
      expect(JSON.stringify(r.body.error), query).toContain(field);
    }
  });
});
