-- What recordings say, written with each chunk while recording: the screen text (escape
-- sequences removed) and the command lines the user entered, with their times. Search uses
-- full-text (simple configuration: commands and identifiers are not English words) and
-- trigrams (substrings such as part of a table name); the command timeline reads the lines.
create extension if not exists pg_trgm;

create table recording_text (
  session_id  uuid             not null references recordings (session_id),
  seq         integer          not null,
  t           double precision not null,
  kind        text             not null,
  text        text             not null,
  tsv         tsvector         generated always as (to_tsvector('simple', text)) stored,
  constraint recording_text_pk primary key (session_id, seq, kind),
  constraint recording_text_kind_ck check (kind in ('output', 'input'))
);
comment on table recording_text is
  'Screen text of each recording chunk, for search; t is seconds from the start of the recording.';
create index recording_text_tsv_idx on recording_text using gin (tsv);
create index recording_text_trgm_idx on recording_text using gin (text gin_trgm_ops);

create table recording_commands (
  session_id  uuid             not null references recordings (session_id),
  seq         integer          not null,
  n           integer          not null,
  t           double precision not null,
  line        text             not null,
  masked      boolean          not null,
  tsv         tsvector         generated always as (to_tsvector('simple', line)) stored,
  constraint recording_commands_pk primary key (session_id, seq, n)
);
comment on table recording_commands is
  'Command lines reconstructed from recorded input (with echo); masked characters are stored as •.';
create index recording_commands_tsv_idx on recording_commands using gin (tsv);
create index recording_commands_trgm_idx on recording_commands using gin (line gin_trgm_ops);
