-- Signed evidence. Audit checkpoints: the chain head (seq, hash) signed by the broker's
-- Ed25519 key (compact JWS), at least every 30 s while events arrive and whenever a recording
-- is sealed (then the recording's final hashes, size and duration are in the signed payload).
-- Recording chunks are hash-chained like audit events, so a changed or missing chunk is located.
create table audit_checkpoints (
  id                 bigint      generated always as identity primary key,
  seq                bigint      not null,
  hash               text        not null,
  signed_at          timestamptz not null,
  kid                text        not null,
  jws                text        not null,
  recording_session  uuid
);
comment on table audit_checkpoints is
  'Signed statements "the audit chain head was (seq, hash) at signed_at"; verify with the JWKS.';
create index audit_checkpoints_seq_idx on audit_checkpoints (seq);
create index audit_checkpoints_recording_idx on audit_checkpoints (recording_session) where recording_session is not null;

alter table recording_chunks add column hash text;
comment on column recording_chunks.hash is
  'hex SHA-256 chaining this chunk to the previous one (server/recording/chain.ts).';
alter table recordings add column chain_hash text, add column duration_seconds double precision;
