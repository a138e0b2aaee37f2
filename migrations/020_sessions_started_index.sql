-- The Sessions list pages newest first by (started_at, id) for everyone's sessions (auditors);
-- console_sessions_user_idx already serves one user's.
create index console_sessions_started_idx on console_sessions (started_at desc, id desc);
