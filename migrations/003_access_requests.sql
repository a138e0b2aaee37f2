-- Just-in-time access: requests bound to the exact console (target, image, command, catalogue
-- hash), approvals by distinct approvers, and the grant they produce (status 'approved' with an
-- expiry and a session budget). Every state change is a conditional update on the request row.

create table access_requests (
  id                uuid        primary key,
  requester_id      uuid        not null references users (id),
  target            text        not null,
  image             text        not null,
  command           text[]      not null,
  catalog_sha256    text        not null,
  reason            text        not null,
  duration_seconds  integer     not null,
  approvals_needed  integer     not null,
  max_sessions      integer,
  status            text        not null default 'pending',
  status_reason     text,
  created_at        timestamptz not null default now(),
  decided_at        timestamptz,
  expires_at        timestamptz,
  sessions_used     integer     not null default 0,
  constraint access_requests_status_ck
    check (status in ('pending', 'approved', 'denied', 'withdrawn', 'expired', 'revoked')),
  constraint access_requests_duration_ck check (duration_seconds between 60 and 604800),
  constraint access_requests_approvals_ck check (approvals_needed between 1 and 5),
  constraint access_requests_grant_ck check ((status = 'approved') <= (expires_at is not null)),
  constraint access_requests_sessions_ck check (max_sessions is null or sessions_used <= max_sessions)
);
comment on table access_requests is
  'Requests for just-in-time access to one exact console; an approved row is the grant.';
create index access_requests_requester_idx on access_requests (requester_id, created_at desc);
create index access_requests_open_idx on access_requests (status) where status in ('pending', 'approved');

create table access_decisions (
  request_id   uuid        not null references access_requests (id),
  approver_id  uuid        not null references users (id),
  decision     text        not null,
  comment      text        not null default '',
  decided_at   timestamptz not null default now(),
  constraint access_decisions_pk primary key (request_id, approver_id),
  constraint access_decisions_decision_ck check (decision in ('approve', 'deny'))
);
comment on table access_decisions is
  'One decision per approver per request; the requester can never appear here (checked under the request row lock).';
