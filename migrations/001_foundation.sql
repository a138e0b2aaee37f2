-- Foundation: who has been seen, browser sessions, pending OIDC logins, and the audit log.

create table users (
  id             uuid        primary key default gen_random_uuid(),
  issuer         text        not null,
  subject        text        not null,
  username       text        not null,
  display_name   text,
  email          text,
  groups         text[]      not null default '{}',
  first_seen_at  timestamptz not null default now(),
  last_seen_at   timestamptz not null default now(),
  constraint users_issuer_subject_key unique (issuer, subject)
);
comment on table users is
  'People who have logged in through the IdP; identity is (issuer, subject), never the display name.';

create table browser_sessions (
  id_hash       bytea       primary key,
  user_id       uuid        not null references users (id) on delete cascade,
  groups        text[]      not null,
  roles         text[]      not null,
  auth_time     timestamptz not null,
  created_at    timestamptz not null default now(),
  last_seen_at  timestamptz not null default now(),
  expires_at    timestamptz not null,
  ended_at      timestamptz,
  end_reason    text,
  constraint browser_sessions_end_reason_ck check ((ended_at is null) = (end_reason is null))
);
comment on table browser_sessions is
  'Server-side browser sessions; the cookie holds a random id, the table only its keyed hash.';
create index browser_sessions_user_idx on browser_sessions (user_id) where ended_at is null;

create table oidc_logins (
  binding_hash   bytea       primary key,
  state          text        not null,
  nonce          text        not null,
  code_verifier  text        not null,
  return_to      text        not null,
  created_at     timestamptz not null default now(),
  expires_at     timestamptz not null
);
comment on table oidc_logins is
  'Authorization requests in flight, bound to the browser that started them; consumed once at the callback.';

create table audit_events (
  seq      bigint      generated always as identity primary key,
  at       timestamptz not null default clock_timestamp(),
  actor    text        not null,
  action   text        not null,
  subject  text,
  details  jsonb       not null default '{}'::jsonb
);
comment on table audit_events is
  'Append-only log of typed events; the database itself refuses UPDATE, DELETE and TRUNCATE.';
create index audit_events_action_idx on audit_events (action, at);

create function audit_events_append_only() returns trigger
language plpgsql as $$
begin
  raise exception 'audit_events is append-only: % refused', tg_op
    using errcode = 'insufficient_privilege';
end;
$$;

create trigger audit_events_no_update_delete
  before update or delete on audit_events
  for each row execute function audit_events_append_only();

create trigger audit_events_no_truncate
  before truncate on audit_events
  for each statement execute function audit_events_append_only();
