-- Storage at a bounded cost per MiB of console output (docs/performance.md, bench/storage.ts).
--
-- Recording chunks: the broker compresses each chunk before storing it (encoding 'zstd', or
-- 'deflate' where its Node lacks zstd; null for rows stored before, or too small to gain) and
-- keeps its length as recorded (raw_bytes), so the player, the watchers' tail and the index read
-- sizes without decompressing. PostgreSQL no longer tries to compress what is compressed
-- already (storage external). Hashes are over the recorded
-- bytes, as before: verification, bundles and downloads see exactly what was recorded.
alter table recording_chunks
  add column encoding text constraint recording_chunks_encoding_ck check (encoding in ('zstd', 'deflate')),
  add column raw_bytes integer,
  add constraint recording_chunks_encoded_ck check ((encoding is null) = (raw_bytes is null));
alter table recording_chunks alter column data set storage external;
comment on column recording_chunks.encoding is
  'How data is stored: null = as recorded; zstd = a Zstandard frame (RFC 8878), deflate = raw DEFLATE (RFC 1951), of the recorded bytes (raw_bytes long).';

-- The search index: the indexer now keeps at most 8 KiB of each chunk's screen text (interactive
-- work whole; a flood where each second of it begins and ends), and the index is stored once:
--  * the tsvector is no longer a stored column beside the text (the same words twice) but an
--    expression index over it; search asks `to_tsvector('simple', text) @@ …`;
--  * GIN indexes are built without a pending list (fastupdate off): the indexer is off the
--    console's path and inserts in small batches, so the list saved nothing and left its pages
--    behind as free space inside each index.
-- Building the expression indexes reads the indexed text once; on a large deployment this
-- migration takes a while (CHANGELOG, Upgrading).
drop index recording_text_tsv_idx;
alter table recording_text drop column tsv;
create index recording_text_words_idx on recording_text using gin (to_tsvector('simple', text)) with (fastupdate = off);
alter index recording_text_trgm_idx set (fastupdate = off);

drop index recording_commands_tsv_idx;
alter table recording_commands drop column tsv;
create index recording_commands_words_idx on recording_commands using gin (to_tsvector('simple', line)) with (fastupdate = off);
alter index recording_commands_trgm_idx set (fastupdate = off);
