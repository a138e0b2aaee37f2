-- Indexing off the console's path: the recorder stores each chunk with the words it holds in an
-- unindexed queue row (one cheap insert); a job on any broker moves queued rows into the
-- full-text and trigram indexed tables in batches, a second or so later. A console printing a
-- large table is then no longer throttled by its own search index.
create table recording_index_queue (
  session_id  uuid             not null references recordings (session_id),
  seq         integer          not null,
  t           double precision,
  text        text,
  commands    jsonb            not null default '[]',
  constraint recording_index_queue_pk primary key (session_id, seq)
);
comment on table recording_index_queue is
  'Screen text and command lines of stored chunks not yet in recording_text/recording_commands; claimed with skip locked, deleted when indexed.';

-- A chunk's screen text is indexed in parts of at most 256 KiB: a tsvector holds at most 1 MiB,
-- and a chunk (which grows while storage is slow) can hold more text than that.
alter table recording_text add column part integer not null default 0;
alter table recording_text drop constraint recording_text_pk;
alter table recording_text add constraint recording_text_pk primary key (session_id, seq, kind, part);
