-- Console sessions and their recordings (asciicast v2), streamed in chunks while they run.

create table console_sessions (
  id             uuid        primary key,
  user_id        uuid        not null references users (id),
  target         text        not null,
  runtime        text        not null,
  image          text        not null,
  image_id       text,
  command        text[]      not null,
  container_id   text,
  broker_id      text        not null,
  started_at     timestamptz not null default now(),
  ended_at       timestamptz,
  end_reason     text,
  exit_code      integer,
  bytes_out      bigint      not null default 0,
  bytes_in       bigint      not null default 0,
  constraint console_sessions_end_ck check ((ended_at is null) = (end_reason is null))
);
comment on table console_sessions is
  'One row per console: who, which target and image, when, how it ended. Live while ended_at is null.';
create index console_sessions_user_idx on console_sessions (user_id, started_at desc);
create index console_sessions_live_idx on console_sessions (broker_id) where ended_at is null;

create table recordings (
  session_id   uuid        primary key references console_sessions (id),
  header       jsonb       not null,
  size_bytes   bigint,
  sha256       text,
  sealed_at    timestamptz,
  constraint recordings_sealed_ck check ((sealed_at is null) = (sha256 is null) and (sha256 is null) = (size_bytes is null))
);
comment on table recordings is
  'The asciicast v2 recording of a console session; sha256 and size are set when it is sealed
   (until then, the size is the sum of its chunks).';

create table recording_chunks (
  session_id  uuid    not null references recordings (session_id),
  seq         integer not null,
  data        bytea   not null,
  constraint recording_chunks_pk primary key (session_id, seq)
);
comment on table recording_chunks is
  'Consecutive byte ranges of the asciicast file (header line first), written about once a second.';
