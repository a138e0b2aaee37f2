-- The search index is built in a fair order (db/recording-words.ts): small chunks first, then
-- the oldest chunk of each console, longest-waiting first, so one console printing a flood
-- cannot push every other console's words behind its backlog.
alter table recording_index_queue add column queued_at timestamptz not null default clock_timestamp();
comment on column recording_index_queue.queued_at is
  'When the chunk was stored; the indexer takes each console''s oldest queued chunk in this order.';
