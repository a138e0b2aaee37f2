// Just-in-time access on real PostgreSQL: the rules that must hold, each tested — including
// races settled by the database (two approvers at once, approve racing withdraw).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { createAccessRequests, type AccessRequests } from '../server/access/index.js';
import type { Principal } from '../server/identity/index.js';
import { createAuditLog } from '../server/audit/index.js';
import { openCatalogStore } from '../server/catalog/index.js';
import type { Role } from '../server/config/index.js';
import { recordUserSeen, useGrant } from '../server/db/index.js';
import { isSallyportError } from '../server/errors.js';
import { useDatabase } from './support/postgres.js';

const DIGEST = 'registry.example/billing@sha256:' + 'c'.repeat(64);
const handle = useDatabase();
let jit: AccessRequests;
const people: Record<string, Principal> = {};

async function person(username: string, groups: string[], roles: Role[]): Promise<Principal> {
  const u = await recordUserSeen(handle.db, { issuer: 'https://idp', subject: `sub-${username}`, username, displayName: null, email: null, groups });
  return { userId: u.id, issuer: u.issuer, subject: u.subject, username, displayName: null, email: null, groups, roles, authTime: new Date() };
}

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'OK';
  } catch (err) {
    if (isSallyportError(err)) return err.code;
    throw err;
  }
}

beforeAll(async () => {
  const file = join(mkdtempSync(join(tmpdir(), 'sallyport-jit-')), 'catalog.yaml');
  const t = (name: string, approval: string) => `  - { name: ${name}, description: d, runtime: docker, image: "${DIGEST}", command: [bin/rails, console],
      limits: { memory: 64m, cpus: 1, pids: 32, maxDuration: 1h, idleTimeout: 5m }, allow: { groups: [developers] }, approval: ${approval} }`;
  writeFileSync(
    file,
    `version: 1\ntargets:\n${t('billing', '{ required: true, approvers: [approvers], maxDuration: 2h, maxSessions: 1, ticketPattern: "OPS-[0-9]+" }')}\n${t('ledger', '{ required: true, approvers: [approvers], approvals: 2, autoApprove: [oncall] }')}\n`,
  );
  const audit = createAuditLog(handle.db);
  const catalog = await openCatalogStore(file, { requireDigest: true }, audit);
  jit = createAccessRequests({ db: handle.db, audit, catalog, approverRoleGroups: ['approvers', 'admins'], reauthMaxAgeSeconds: 300 });
  people.alice = await person('alice', ['developers'], ['developer']);
  people.oncall = await person('olive', ['developers', 'oncall'], ['developer']);
  people.bob = await person('bob', ['approvers'], ['approver']);
  people.erin = await person('erin', ['approvers'], ['approver']);
  people.frank = await person('frank', ['approvers'], ['approver']);
  people.gina = await person('gina', ['developers'], ['developer']);
  people.hank = await person('hank', ['developers'], ['developer']);
});

let requester = 'alice';
const ask = (target = 'billing', reason = 'fix OPS-1', durationSeconds = 3600) =>
  jit.request(people[requester]!, target, { reason, durationSeconds });
const use = (target = 'billing', image = DIGEST, command = ['bin/rails', 'console'], placement: string[] = []) =>
  useGrant(handle.db, { requesterId: people[requester]!.userId, target, image, command, placement });

describe('deciding', () => {
  it('two approvers clicking at once give exactly one approval', async () => {
    for (let i = 0; i < 5; i++) {
      const r = await ask();
      const results = await Promise.all([code(jit.decide(people.bob!, r.id, 'approve', '')), code(jit.decide(people.erin!, r.id, 'approve', ''))]);
      expect(results.sort()).toEqual(['CONFLICT', 'OK']);
      const { rows } = await handle.db.query(`select count(*)::int n from audit_events where action = 'access.approved' and subject = $1`, [r.id]);
      expect(rows[0].n).toBe(1);
    }
  });

  it('approve racing withdraw ends in one consistent state', async () => {
    for (let i = 0; i < 5; i++) {
      const r = await ask();
      const [approve, withdraw] = await Promise.all([code(jit.decide(people.bob!, r.id, 'approve', '')), code(jit.withdraw(people.alice!, r.id))]);
      const { rows } = await handle.db.query(`select status from access_requests where id = $1`, [r.id]);
      expect([approve, withdraw].filter((c) => c === 'OK')).toHaveLength(1);
      expect(rows[0].status).toBe(approve === 'OK' ? 'approved' : 'withdrawn');
    }
  });

  it('a requester can never approve their own request, whatever the spelling of their name', async () => {
    const r = await ask();
    const shouty: Principal = { ...people.alice!, username: 'ALICE', groups: ['developers', 'approvers'], roles: ['developer', 'approver'] };
    expect(await code(jit.decide(shouty, r.id, 'approve', 'looks fine to me'))).toBe('ACCESS_DENIED');
    const { rows } = await handle.db.query(`select status, (select count(*)::int from access_decisions where request_id = $1) n from access_requests where id = $1`, [r.id]);
    expect(rows[0]).toEqual({ status: 'pending', n: 0 });
  });

  it('the two-person rule needs two distinct approvers, and one who lost the group does not count', async () => {
    const r = await jit.request(people.alice!, 'ledger', { reason: 'month end', durationSeconds: 600 });
    expect((await jit.decide(people.bob!, r.id, 'approve', '')).status).toBe('pending');
    expect(await code(jit.decide(people.bob!, r.id, 'approve', 'again'))).toBe('CONFLICT');
    // Bob logs in again without the approver group: his approval no longer counts.
    await recordUserSeen(handle.db, { issuer: 'https://idp', subject: 'sub-bob', username: 'bob', displayName: null, email: null, groups: [] });
    expect((await jit.decide(people.erin!, r.id, 'approve', '')).status).toBe('pending');
    expect((await jit.decide(people.frank!, r.id, 'approve', '')).status).toBe('approved');
    await recordUserSeen(handle.db, { issuer: 'https://idp', subject: 'sub-bob', username: 'bob', displayName: null, email: null, groups: ['approvers'] });
  });

  it('a deny ends the request; on-call requests are approved at once', async () => {
    const r = await ask();
    expect((await jit.decide(people.bob!, r.id, 'deny', 'not now')).status).toBe('denied');
    expect(await code(jit.decide(people.erin!, r.id, 'approve', ''))).toBe('CONFLICT');
    const auto = await jit.request(people.oncall!, 'ledger', { reason: 'paged', durationSeconds: 600 });
    expect(auto.status).toBe('approved');
  });
});

describe('grants', () => {
  it('open only the exact console, only while live, only as often as allowed', async () => {
    requester = 'gina';
    const r = await ask();
    expect(await use()).toBeNull(); // pending is not a grant
    await jit.decide(people.bob!, r.id, 'approve', '');
    expect(await use('ledger')).toBeNull(); // a grant for billing never opens ledger
    expect(await use('billing', DIGEST.replace(/c{64}/, 'd'.repeat(64)))).toBeNull(); // another image
    expect(await use('billing', DIGEST, ['sh'])).toBeNull(); // another command
    expect(await use('billing', DIGEST, ['bin/rails', 'console'], ['app-1'])).toBeNull(); // moved to fleet nodes
    expect((await use())?.id).toBe(r.id);
    expect(await use()).toBeNull(); // maxSessions: 1
  });

  it('an expired or revoked grant never opens a console', async () => {
    requester = 'hank';
    const a = await ask();
    await jit.decide(people.bob!, a.id, 'approve', '');
    await handle.db.query(`update access_requests set expires_at = now() - interval '1 second' where id = $1`, [a.id]);
    expect(await use()).toBeNull();
    expect((await jit.expire()).map((g) => g.id)).toContain(a.id);

    const b = await ask();
    await jit.decide(people.bob!, b.id, 'approve', '');
    expect(await code(jit.revoke(people.hank!, b.id, 'mine'))).toBe('ACCESS_DENIED');
    expect((await jit.revoke(people.bob!, b.id, 'incident over')).status).toBe('revoked');
    expect(await use()).toBeNull();
    const { rows } = await handle.db.query(`select action from audit_events where subject = $1 order by seq`, [b.id]);
    expect(rows.map((x) => x.action)).toEqual(['access.requested', 'access.decision', 'access.approved', 'access.revoked']);
  });

  it('a request nobody decides within a day expires and can no longer be approved', async () => {
    requester = 'hank';
    const fresh = await ask();
    const stale = await ask();
    await handle.db.query(`update access_requests set created_at = now() - interval '24 hours 1 second' where id = $1`, [stale.id]);
    const expired = (await jit.expire()).map((g) => g.id);
    expect(expired).toContain(stale.id);
    expect(expired).not.toContain(fresh.id);
    const view = await jit.get(people.hank!, stale.id);
    expect(view).toMatchObject({ status: 'expired', statusReason: 'not decided in time', youMay: { decide: false, withdraw: false } });
    expect(await code(jit.decide(people.bob!, stale.id, 'approve', ''))).toBe('CONFLICT');
    const { rows } = await handle.db.query(`select details from audit_events where subject = $1 and action = 'access.expired'`, [stale.id]);
    expect(rows[0].details).toEqual({ target: 'billing', reason: 'not decided in time' });
  });
});

describe('bad input', () => {
  it('gets a BAD_REQUEST naming the field, and nothing is written', async () => {
    requester = 'alice';
    const before = (await handle.db.query(`select count(*)::int n from access_requests`)).rows[0].n;
    const cases: Array<[Promise<unknown>, string]> = [
      [ask('billing', 'fix OPS-1', 3 * 3600), 'durationSeconds'],
      [ask('billing', '   ', 600), 'reason'],
      [ask('billing', 'no ticket here', 600), 'reason'],
      [ask('nope', 'OPS-1', 600), 'target'],
      [jit.request(people.alice!, 'billing', { reason: 'OPS-1', durationSeconds: 'soon' as unknown as number }), 'durationSeconds'],
    ];
    for (const [p, field] of cases) {
      const err = await p.catch((e: unknown) => e);
      expect(isSallyportError(err, 'BAD_REQUEST'), field).toBe(true);
      expect((err as { problems: { field: string }[] }).problems.map((x) => x.field)).toContain(field);
    }
    const r = await ask();
    const huge = await jit.decide(people.bob!, r.id, 'approve', 'x'.repeat(5000)).catch((e: unknown) => e);
    expect((huge as { problems: { field: string }[] }).problems[0]!.field).toBe('comment');
    expect((await handle.db.query(`select count(*)::int n from access_requests`)).rows[0].n).toBe(before + 1);
    expect((await handle.db.query(`select count(*)::int n from access_decisions where request_id = $1`, [r.id])).rows[0].n).toBe(0);
  });
});
