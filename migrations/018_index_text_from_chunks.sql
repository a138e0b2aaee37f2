-- Screen text is worked out by the indexer from the stored chunk, no longer on the console's
-- path: the recorder queues a chunk that has output with its size only (one statement, the chunk
-- sent once), and the indexer reads the chunk's output events back, strips escapes and indexes
-- the text (replay/index-words.ts). Rows queued before this migration still carry their text.
alter table recording_index_queue add column output_bytes integer;
comment on column recording_index_queue.output_bytes is
  'Bytes of the stored chunk, when it holds output for the indexer to turn into screen text; null when the row carries its text (queued before 018) or only command lines.';
