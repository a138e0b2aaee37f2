-- Tamper evidence for the audit log: every event stores the SHA-256 of its canonical encoding,
-- which includes the previous event's hash (a hash chain). Appends take the single head row's
-- lock, so concurrent writers extend the chain one at a time, in commit order, and sequence
-- numbers stay contiguous (a deleted event leaves a visible gap). Events written before this
-- migration are left unchained; the verifier reports them as such.
alter table audit_events add column prev_hash text, add column hash text;
comment on column audit_events.hash is
  'hex SHA-256 of the canonical encoding of this event (server/audit/chain.ts), which includes prev_hash.';

create table audit_head (
  id    integer primary key default 1 check (id = 1),
  seq   bigint  not null,
  hash  text    not null
);
comment on table audit_head is
  'The chain head: the last chained event. Locked by every append; one row only.';
insert into audit_head (seq, hash)
  select coalesce(max(seq), 0), repeat('0', 64) from audit_events;
