-- How much of what a user typed the terminal did not echo (stored masked, as for a password).
-- A user can switch echo off (`stty -echo`) and type whole commands unseen: the recording then
-- holds only "input not echoed", so a session with much of it is flagged for auditors.
alter table console_sessions add column masked_input_chars integer;
comment on column console_sessions.masked_input_chars is
  'Characters typed that the terminal did not echo (stored masked); null for sessions before 0.2.0 or not recorded.';
