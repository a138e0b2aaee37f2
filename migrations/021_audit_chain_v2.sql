-- Audit chain version 2: an event's hash links its sequence number, the previous hash, a
-- commitment to its subject and the hash of its content, instead of hashing the content with
-- the link. An evidence bundle can then carry another session's event as (subject commitment,
-- content hash) and the verifier still recomputes its link: a bundle holder can no longer
-- rewrite the events before a redacted one, nor hide an event of the bundle's own session.
-- Rows written before this migration (and by a broker of the previous release during a rolling
-- upgrade, which does not set the column) keep version 1 and verify under the old rule.
alter table audit_events
  add column chain_v smallint not null default 1
  constraint audit_events_chain_v_check check (chain_v in (1, 2));
comment on column audit_events.chain_v is
  'How hash was computed (server/audit/chain.ts): 1 = over the whole event, 2 = over (seq, prev, subject commitment, content hash).';
