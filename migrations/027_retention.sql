-- Retention and legal hold. A recording older than its target's retention (catalogue
-- `retention`, default SALLYPORT_RECORDING_RETENTION) loses its bytes, screen text, commands
-- and keyframes to a claimed job on any broker (server/retention/); its row stays with the hash
-- and size it was sealed with and when it expired, and the removal is a chained audit event
-- (recording.expired), so `verify recording` says "expired by retention", not "missing".
-- The session row and every audit event are kept: the chain is the record.
alter table recordings
  add column expired_at timestamptz,
  add constraint recordings_expired_sealed_ck check (expired_at is null or sealed_at is not null);
comment on column recordings.expired_at is
  'When retention removed the recording''s bytes and index (its row, hash and size stay); null while it is kept.';

-- A legal hold exempts a session's recording from retention until an auditor releases it.
create table legal_holds (
  session_id  uuid        primary key references console_sessions (id),
  reason      text        not null constraint legal_holds_reason_ck check (length(reason) between 1 and 500),
  held_by     uuid        not null references users (id),
  held_at     timestamptz not null default now()
);
comment on table legal_holds is
  'Sessions whose recordings retention must not remove (placed and released by auditors, audited).';

-- The retention job's scan: ended sessions by end time.
create index console_sessions_ended_idx on console_sessions (ended_at) where ended_at is not null;
