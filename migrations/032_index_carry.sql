-- Words across a chunk boundary: a word a program printed half in one chunk and half in the next
-- was in neither chunk's indexed text, so search missed it. The recorder now queues with each
-- chunk the last characters of the output before it (carry), and the indexer puts the unfinished
-- word back in front of the chunk's text. Queue rows are transient: deleted once indexed.
alter table recording_index_queue add column carry text;
comment on column recording_index_queue.carry is
  'The last characters of the output before this chunk: an unfinished word there is indexed with this chunk.';
