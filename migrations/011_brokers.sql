-- Stateless brokers: every broker process registers itself with a unique instance id and a
-- heartbeat; live control (the live list, terminate, watch) goes through these rows, so an admin
-- on any broker controls a console on any other, and a broker that stops answering is taken
-- over by a survivor.

create table brokers (
  id            text        primary key,
  version       text        not null,
  started_at    timestamptz not null default now(),
  heartbeat_at  timestamptz not null default now(),
  -- Each broker declares its own lease: survivors judge it by this, not by theirs.
  lease_seconds integer     not null,
  stopped_at    timestamptz,
  -- 'stopped' after a clean drain; 'lost' when a survivor took it over.
  stop_reason   text,
  taken_over_by text,
  constraint brokers_stop_ck check ((stopped_at is null) = (stop_reason is null)),
  constraint brokers_stop_reason_ck check (stop_reason in ('stopped', 'lost'))
);
comment on table brokers is
  'One row per broker process ever started. Alive while stopped_at is null and heartbeat_at is
   recent (within the lease); a survivor marks a silent one lost and ends its sessions.';
create index brokers_alive_idx on brokers (heartbeat_at) where stopped_at is null;

alter table console_sessions
  add column via                    text not null default 'web',
  add column node                   text not null default 'local',
  add column client_address         text,
  -- The browser session (its keyed hash) a web console was opened with: ending that login ends it.
  add column browser_session        bytea,
  add column end_code               text,
  add column terminate_requested_at timestamptz,
  add column terminate_by           text,
  add column terminate_reason       text,
  add constraint console_sessions_via_ck check (via in ('web', 'ssh'));
comment on column console_sessions.end_code is
  'Why it ended, from the typed list in consoles/end-reasons.ts; end_reason is its sentence.';
comment on column console_sessions.terminate_requested_at is
  'Set (once) by whichever broker an admin asked to terminate; the owning broker ends the console.';

create table console_watchers (
  id          uuid        primary key,
  session_id  uuid        not null references console_sessions (id),
  user_id     uuid        not null references users (id),
  broker_id   text        not null,
  started_at  timestamptz not null default now(),
  ended_at    timestamptz
);
comment on table console_watchers is
  'Who watches a live console, from which broker; the owning broker tells the user from these rows.';
create index console_watchers_live_idx on console_watchers (session_id) where ended_at is null;

-- A session's recording sealed by a survivor from what was stored says why it ends early.
alter table recordings add column truncated text;

-- Keyframe building is a claimed job: a sealed recording without keyframes is the job (so it is
-- enqueued by the seal's own transaction); a broker claims it for a while before building.
alter table recordings
  add column keyframes_claimed_by    text,
  add column keyframes_claimed_until timestamptz,
  add column keyframes_builds        integer not null default 0,
  -- Likewise the signed checkpoint that carries a sealed recording's hashes: a sealed recording
  -- of an ended session without checkpointed_at is the job, taken by whichever broker is free.
  add column checkpointed_at         timestamptz;
-- Recordings sealed before this migration were checkpointed at once, by the broker that sealed them.
update recordings set checkpointed_at = sealed_at where sealed_at is not null;
-- Both job queues are read every second by every broker: keep the reads on the few open jobs.
create index recordings_keyframes_todo_idx on recordings (sealed_at) where sealed_at is not null and not keyframes_done;
create index recordings_checkpoint_todo_idx on recordings (sealed_at) where sealed_at is not null and checkpointed_at is null;
