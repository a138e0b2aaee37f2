-- Sealed recordings in object storage (SALLYPORT_RECORDING_STORE=s3). A job on any broker moves
-- a sealed, signed, indexed recording into one object, the .cast file itself (its SHA-256 is the
-- recording's), checked after upload; then its chunk rows keep only what the player, verifier
-- and bundle need (sequence, recorded length, hash, times) and their offset in the object, and
-- the recording names its object. Replay, download, bundles and verification read either.
alter table recordings
  add column object_key text,
  add column stored_at  timestamptz;
comment on column recordings.object_key is
  'The object holding the recording (the .cast file) when it was moved to object storage; kept after retention until the object is deleted.';

alter table recording_chunks
  alter column data drop not null,
  add column object_offset bigint,
  drop constraint recording_chunks_encoded_ck,
  add constraint recording_chunks_encoded_ck check (encoding is null or (data is not null and raw_bytes is not null)),
  add constraint recording_chunks_where_ck check ((data is null) = (object_offset is not null) and (data is not null or raw_bytes is not null));
comment on column recording_chunks.object_offset is
  'Where the chunk starts in its recording''s object (data is then null and raw_bytes its length).';

-- The mover's scan: sealed recordings not yet moved.
create index recordings_to_store_idx on recordings (sealed_at) where object_key is null and sealed_at is not null and expired_at is null;
