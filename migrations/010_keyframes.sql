-- Replay that scales: every chunk knows the time span of its events, and keyframes (terminal
-- snapshots serialized by @xterm/headless + addon-serialize, taken about every 256 KiB of output
-- and after a resize) let the player restore the nearest snapshot and replay only what follows.
alter table recording_chunks add column t_start double precision, add column t_end double precision;
alter table recordings add column keyframes_done boolean not null default false;

create table recording_keyframes (
  session_id   uuid             not null references recordings (session_id),
  n            integer          not null,
  t            double precision not null,
  after_chunk  integer          not null,
  cols         integer          not null,
  rows         integer          not null,
  screen       text             not null,
  constraint recording_keyframes_pk primary key (session_id, n)
);
comment on table recording_keyframes is
  'Terminal state after chunk after_chunk (time t); replay from the next chunk on reproduces the screen.';
