// Just-in-time access policy as code: the catalogue's approval fields are validated with named
// errors, and the access layer's decisions follow them (who may ask, who may approve — never
// oneself — on-call auto-approval, reason and duration limits).
import { describe, expect, it } from 'vitest';
import { checkAccessRequest, isAutoApproved, mayApprove, mayRequestAccess } from '../server/access/index.js';
import type { Principal } from '../server/identity/index.js';
import { parseCatalog, type Target } from '../server/catalog/index.js';
import type { Role } from '../server/config/index.js';

const DIGEST = 'registry.example/app@sha256:' + 'b'.repeat(64);
const base = {
  description: 'd',
  runtime: 'docker',
  image: DIGEST,
  command: ['sh'],
  limits: { memory: '64m', cpus: 1, pids: 32, maxDuration: '1h', idleTimeout: '5m' },
  allow: { groups: ['developers', 'sre'] },
};

function load(...targets: object[]) {
  return parseCatalog(JSON.stringify({ version: 1, targets }), { requireDigest: true });
}
function target(approval: object): Target {
  const r = load({ name: 'prod', ...base, approval });
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.targets[0]!;
}
function principal(id: string, groups: string[], roles: Role[]): Principal {
  return { userId: id, issuer: 'i', subject: id, username: id, displayName: null, email: null, groups, roles, authTime: new Date() };
}

describe('approval policy in the catalogue', () => {
  it('loads every field with defaults', () => {
    const t = target({ required: true, approvers: ['approvers'], approvals: 2, maxDuration: '4h', maxSessions: 1, ticketPattern: '^[A-Z]+-\\d+', autoApprove: ['oncall'] });
    expect(t.approval).toEqual({
      required: true,
      approvers: ['approvers'],
      approvals: 2,
      maxDuration: 14400,
      maxSessions: 1,
      ticketPattern: '^[A-Z]+-\\d+',
      autoApprove: ['oncall'],
    });
    expect(target({ required: true, approvers: ['a'] }).approval).toMatchObject({ approvals: 1, maxDuration: 3600 });
  });

  it('names each policy mistake with its target and field', () => {
    const r = load(
      { name: 'no-approvers', ...base, approval: { required: true } },
      { name: 'bad-regex', ...base, approval: { required: true, approvers: ['a'], ticketPattern: '([' } },
      { name: 'too-many', ...base, approval: { required: true, approvers: ['a'], approvals: 9 } },
      { name: 'too-long', ...base, approval: { required: true, approvers: ['a'], maxDuration: '30d' } },
      { name: 'pointless', ...base, approval: { required: false, approvers: ['a'] } },
      { name: 'typo', ...base, approval: { required: true, approvers: ['a'], aprovals: 2 } },
    );
    expect(r.ok).toBe(false);
    const text = !r.ok ? r.problems.map((p) => `${p.field}: ${p.message}`).join('\n') : '';
    expect(text).toMatch(/target "no-approvers"\.approval\.approvers: is required when approval\.required is true/);
    expect(text).toMatch(/target "bad-regex"\.approval\.ticketPattern: is not a valid regular expression/);
    expect(text).toMatch(/target "too-many"\.approval\.approvals: /);
    expect(text).toMatch(/target "too-long"\.approval\.maxDuration: must be at most 7d/);
    expect(text).toMatch(/target "pointless"\.approval\.approvers: has no effect unless approval\.required is true/);
    expect(text).toMatch(/target "typo"\.approval: unknown field "aprovals"/);
  });
});

describe('access decisions', () => {
  const t = target({ required: true, requesters: ['sre'], approvers: ['approvers'], autoApprove: ['oncall'], maxDuration: '2h', ticketPattern: 'OPS-\\d+' });
  const alice = principal('u-alice', ['developers', 'sre'], ['developer']);
  const dev = principal('u-dev', ['developers'], ['developer']);
  const bob = principal('u-bob', ['approvers'], ['approver']);
  const exApprover = principal('u-ex', ['developers'], ['developer']);

  it('lets only the requester groups ask', () => {
    expect(mayRequestAccess(alice, t)).toBe(true);
    expect(mayRequestAccess(dev, t)).toBe(false);
    expect(mayRequestAccess(bob, t)).toBe(false);
  });

  it('never lets a requester approve their own request, whatever their name looks like', () => {
    const aliceAlsoApprover = principal('u-alice', ['sre', 'approvers'], ['developer', 'approver']);
    expect(mayApprove(aliceAlsoApprover, t, 'u-alice')).toBe(false);
    expect(mayApprove(bob, t, 'u-alice')).toBe(true);
    // Someone who lost the approver group (or role) no longer counts.
    expect(mayApprove(exApprover, t, 'u-alice')).toBe(false);
    expect(mayApprove(principal('u-x', ['approvers'], ['developer']), t, 'u-alice')).toBe(false);
  });

  it('auto-approves on-call requesters only', () => {
    expect(isAutoApproved(principal('u-oc', ['sre', 'oncall'], ['developer']), t)).toBe(true);
    expect(isAutoApproved(alice, t)).toBe(false);
  });

  it('checks reason and duration against the policy, naming the field', () => {
    expect(checkAccessRequest(t, { reason: 'fix OPS-42', durationSeconds: 3600 })).toEqual([]);
    expect(checkAccessRequest(t, { reason: '  ', durationSeconds: 3600 }).map((p) => p.field)).toEqual(['reason', 'reason']);
    expect(checkAccessRequest(t, { reason: 'no ticket', durationSeconds: 3600 })[0]).toEqual({ field: 'reason', message: 'must reference a ticket matching OPS-\\d+' });
    expect(checkAccessRequest(t, { reason: 'OPS-1', durationSeconds: 3 * 3600 })[0]!.field).toBe('durationSeconds');
    expect(checkAccessRequest(t, { reason: 'OPS-1', durationSeconds: 10 })[0]!.field).toBe('durationSeconds');
    expect(checkAccessRequest(t, { reason: 'OPS-1 ' + 'x'.repeat(3000), durationSeconds: 600 })[0]!.field).toBe('reason');
  });
});
