// Repository: access requests, decisions and grants. State changes take the request row lock
// (select … for update) and then update conditionally, so concurrent approvals, or an approval
// racing a withdrawal, settle to one outcome decided by the database.
import type { Queryable } from './database.js';

export type RequestStatus = 'pending' | 'approved' | 'denied' | 'withdrawn' | 'expired' | 'revoked';

export interface AccessRequestRow {
  id: string;
  requester_id: string;
  target: string;
  image: string;
  placement: string[];
  command: string[];
  catalog_sha256: string;
  reason: string;
  duration_seconds: number;
  approvals_needed: number;
  max_sessions: number | null;
  status: RequestStatus;
  status_reason: string | null;
  created_at: Date;
  decided_at: Date | null;
  expires_at: Date | null;
  sessions_used: number;
  /** The grant this request asks more time for. */
  extends_id: string | null;
}

export async function insertAccessRequest(
  db: Queryable,
  r: {
    id: string;
    requesterId: string;
    target: string;
    image: string;
    placement: readonly string[];
    command: readonly string[];
    catalogSha256: string;
    reason: string;
    durationSeconds: number;
    approvalsNeeded: number;
    maxSessions: number | null;
    extendsId?: string | null;
  },
): Promise<AccessRequestRow> {
  const { rows } = await db.query<AccessRequestRow>(
    `insert into access_requests
       (id, requester_id, target, image, command, catalog_sha256, reason, duration_seconds, approvals_needed, max_sessions, placement, extends_id)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
     returning *`,
    [r.id, r.requesterId, r.target, r.image, r.command, r.catalogSha256, r.reason, r.durationSeconds, r.approvalsNeeded, r.maxSessions, r.placement, r.extendsId ?? null],
  );
  return rows[0]!;
}

/** Locks the request row for the rest of the transaction. */
export async function lockAccessRequest(tx: Queryable, id: string): Promise<AccessRequestListRow | null> {
  const { rows } = await tx.query<AccessRequestListRow>(
    `select r.*, u.username as requester_username
       from access_requests r join users u on u.id = r.requester_id
      where r.id = $1
        for update of r`,
    [id],
  );
  return rows[0] ?? null;
}

/** Records one approver's decision; false if they already decided (or are the requester). */
export async function recordDecision(
  tx: Queryable,
  d: { requestId: string; approverId: string; decision: 'approve' | 'deny'; comment: string },
): Promise<boolean> {
  const { rowCount } = await tx.query(
    `insert into access_decisions (request_id, approver_id, decision, comment)
     select r.id, $2, $3, $4 from access_requests r
      where r.id = $1 and r.status = 'pending' and r.requester_id <> $2
     on conflict on constraint access_decisions_pk do nothing`,
    [d.requestId, d.approverId, d.decision, d.comment],
  );
  return (rowCount ?? 0) > 0;
}

/**
 * Approvals that count: distinct approvers other than the requester who, as last seen at
 * login, still belong to one of the target's approver groups and still hold the approver (or
 * admin) role.
 */
export async function countValidApprovals(
  tx: Queryable,
  requestId: string,
  approverGroups: readonly string[],
  approverRoleGroups: readonly string[],
): Promise<number> {
  const { rows } = await tx.query<{ n: number }>(
    `select count(*)::int as n
       from access_decisions d
       join access_requests r on r.id = d.request_id
       join users u on u.id = d.approver_id
      where d.request_id = $1 and d.decision = 'approve'
        and d.approver_id <> r.requester_id
        and u.groups && $2::text[]
        and u.groups && $3::text[]`,
    [requestId, approverGroups, approverRoleGroups],
  );
  return rows[0]!.n;
}

/** pending → approved, starting the grant's clock now. */
export async function grantAccess(tx: Queryable, id: string): Promise<AccessRequestRow | null> {
  const { rows } = await tx.query<AccessRequestRow>(
    `update access_requests
        set status = 'approved', decided_at = now(), expires_at = now() + make_interval(secs => duration_seconds)
      where id = $1 and status = 'pending'
     returning *`,
    [id],
  );
  return rows[0] ?? null;
}

/** Moves a request from one of `from` to `to`; null when it was not in such a state. */
export async function transitionAccessRequest(
  tx: Queryable,
  id: string,
  from: readonly RequestStatus[],
  to: RequestStatus,
  reason: string | null,
  onlyRequester?: string,
): Promise<AccessRequestRow | null> {
  const { rows } = await tx.query<AccessRequestRow>(
    `update access_requests
        set status = $3, status_reason = $4, decided_at = coalesce(decided_at, now()),
            expires_at = case when $3 in ('revoked', 'expired') then least(coalesce(expires_at, now()), now()) else expires_at end
      where id = $1 and status = any($2::text[]) and ($5::uuid is null or requester_id = $5)
     returning *`,
    [id, from, to, reason, onlyRequester ?? null],
  );
  return rows[0] ?? null;
}

/**
 * Uses one session of a live grant for exactly this console; null when there is no such grant
 * (expired, revoked, used up, another target, or a different image, command or node pool).
 */
export async function useGrant(
  tx: Queryable,
  g: { requesterId: string; target: string; image: string; command: readonly string[]; placement: readonly string[]; grantId?: string | null },
): Promise<AccessRequestRow | null> {
  const { rows } = await tx.query<AccessRequestRow>(
    `update access_requests
        set sessions_used = sessions_used + 1
      where id = (
              select id from access_requests
               where requester_id = $1 and target = $2 and image = $3 and command = $4::text[] and placement = $5::text[]
                 and status = 'approved' and expires_at > now()
                 and (max_sessions is null or sessions_used < max_sessions)
                 and ($6::uuid is null or id = $6)
               -- The most recently approved: the reason the user last gave and an approver last read.
               order by decided_at desc nulls last, created_at desc
               limit 1
               for update)
     returning *`,
    [g.requesterId, g.target, g.image, g.command, g.placement, g.grantId ?? null],
  );
  return rows[0] ?? null;
}

/**
 * Grants whose time is up, and requests nobody decided within `pendingSeconds`, become
 * 'expired'; returns them (for audit and ending live sessions).
 */
export async function expireGrants(db: Queryable, pendingSeconds: number): Promise<AccessRequestRow[]> {
  const { rows } = await db.query<AccessRequestRow>(
    `update access_requests
        set status = 'expired',
            status_reason = case when status = 'approved' then 'grant expired' else 'not decided in time' end,
            decided_at = coalesce(decided_at, now())
      where (status = 'approved' and expires_at <= now())
         or (status = 'pending' and created_at <= now() - make_interval(secs => $1))
     returning *`,
    [pendingSeconds],
  );
  return rows;
}

/** Of these grants, the ones no longer live, with why (for ending their sessions). */
/** Undoes one useGrant for a console that never started. */
export async function returnGrantUse(tx: Queryable, grantId: string): Promise<boolean> {
  const { rowCount } = await tx.query(
    `update access_requests set sessions_used = sessions_used - 1 where id = $1 and sessions_used > 0`,
    [grantId],
  );
  return (rowCount ?? 0) > 0;
}

export async function deadGrants(db: Queryable, ids: readonly string[]): Promise<Array<{ id: string; status: RequestStatus }>> {
  if (ids.length === 0) return [];
  const { rows } = await db.query<{ id: string; status: RequestStatus }>(
    `select id, case when status = 'approved' then 'expired' else status end as status
       from access_requests
      where id = any($1::uuid[]) and (status <> 'approved' or expires_at <= now())`,
    [ids],
  );
  return rows;
}

/** A request with its requester's name, for pages and the API. */
export interface AccessRequestListRow extends AccessRequestRow {
  requester_username: string;
}

/**
 * Requests, newest first. `requesterId` limits to one requester; `statuses` to some states;
 * `live` to grants still in force; `notDecidedBy` leaves out those this user already decided.
 */
export async function listAccessRequests(
  db: Queryable,
  f: { requesterId?: string; statuses?: readonly RequestStatus[]; live?: boolean; notDecidedBy?: string; limit: number },
): Promise<AccessRequestListRow[]> {
  const { rows } = await db.query<AccessRequestListRow>(
    `select r.*, u.username as requester_username
       from access_requests r join users u on u.id = r.requester_id
      where ($1::uuid is null or r.requester_id = $1)
        and ($2::text[] is null or r.status = any($2::text[]))
        and (not $3::boolean or (r.status = 'approved' and r.expires_at > now()))
        and ($4::uuid is null or not exists (
              select 1 from access_decisions d where d.request_id = r.id and d.approver_id = $4))
      order by r.created_at desc
      limit $5`,
    [f.requesterId ?? null, f.statuses ?? null, f.live ?? false, f.notDecidedBy ?? null, f.limit],
  );
  return rows;
}

export async function getAccessRequest(db: Queryable, id: string): Promise<AccessRequestListRow | null> {
  const { rows } = await db.query<AccessRequestListRow>(
    `select r.*, u.username as requester_username
       from access_requests r join users u on u.id = r.requester_id
      where r.id = $1`,
    [id],
  );
  return rows[0] ?? null;
}

export interface AccessDecisionRow {
  approver_id: string;
  approver_username: string;
  approver_groups: string[];
  decision: 'approve' | 'deny';
  comment: string;
  decided_at: Date;
}

export async function listAccessDecisions(db: Queryable, requestId: string): Promise<AccessDecisionRow[]> {
  const { rows } = await db.query<AccessDecisionRow>(
    `select d.approver_id, u.username as approver_username, u.groups as approver_groups, d.decision, d.comment, d.decided_at
       from access_decisions d join users u on u.id = d.approver_id
      where d.request_id = $1
      order by d.decided_at`,
    [requestId],
  );
  return rows;
}

/** Users seen at login who belong to one of `anyOf` and one of `andAnyOf`, except one user. */
export async function usersInGroups(db: Queryable, anyOf: readonly string[], andAnyOf: readonly string[], except: string): Promise<string[]> {
  const { rows } = await db.query<{ username: string }>(
    `select username from users
      where groups && $1::text[] and groups && $2::text[] and id <> $3
      order by username limit 50`,
    [anyOf, andAnyOf, except],
  );
  return rows.map((r) => r.username);
}

/** The console sessions a grant opened. */
export async function grantSessions(db: Queryable, grantId: string): Promise<Array<{ id: string; started_at: Date; ended_at: Date | null }>> {
  const { rows } = await db.query<{ id: string; started_at: Date; ended_at: Date | null }>(
    `select id, started_at, ended_at from console_sessions where grant_id = $1 order by started_at`,
    [grantId],
  );
  return rows;
}

/**
 * Another grant in force for the same requester and exactly the same console: a second request
 * beside it is worth a word to the requester and the approver (which one will a console use?).
 */
export async function equalGrantInForce(db: Queryable, r: Pick<AccessRequestRow, 'id' | 'requester_id' | 'target' | 'image' | 'command' | 'placement'>): Promise<{ id: string; reason: string; expires_at: Date } | null> {
  const { rows } = await db.query<{ id: string; reason: string; expires_at: Date }>(
    `select id, reason, expires_at from access_requests
      where requester_id = $1 and target = $2 and image = $3 and command = $4::text[] and placement = $5::text[]
        and status = 'approved' and expires_at > now() and id <> $6
      order by expires_at desc limit 1`,
    [r.requester_id, r.target, r.image, r.command, r.placement, r.id],
  );
  return rows[0] ?? null;
}

/** Does the user hold an approved grant in force for this target (for whatever image, command or pool)? */
export async function holdsGrantFor(db: Queryable, userId: string, target: string): Promise<boolean> {
  const { rowCount } = await db.query(`select 1 from access_requests where requester_id = $1 and target = $2 and status = 'approved' and expires_at > now() limit 1`, [userId, target]);
  return (rowCount ?? 0) > 0;
}

/** An extension approved: the extended grant's live consoles move to it. Returns their ids. */
export async function moveConsolesToGrant(tx: Queryable, fromGrant: string, toGrant: string): Promise<string[]> {
  const { rows } = await tx.query<{ id: string }>(
    `update console_sessions set grant_id = $2 where grant_id = $1 and ended_at is null returning id`,
    [fromGrant, toGrant],
  );
  return rows.map((r) => r.id);
}

/** A pending extension of this grant, if one waits. */
export async function pendingExtension(db: Queryable, grantId: string): Promise<string | null> {
  const { rows } = await db.query<{ id: string }>(`select id from access_requests where extends_id = $1 and status = 'pending' limit 1`, [grantId]);
  return rows[0]?.id ?? null;
}
