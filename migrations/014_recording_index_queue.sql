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
