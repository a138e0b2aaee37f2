-- When a console's container (or process) was removed. A session that ended while its container
-- could not be removed (an engine that did not answer) still holds the engine's resources: it
-- counts toward the console caps and shows in /metrics until the reaper removes it.
alter table console_sessions add column released_at timestamptz;
comment on column console_sessions.released_at is
  'When the console''s container or process was removed; null while it runs, or after an end whose removal failed (the reaper retries).';
update console_sessions set released_at = ended_at where ended_at is not null;
create index console_sessions_unreleased_idx on console_sessions (ended_at) where ended_at is not null and released_at is null;
