-- Who or what ended a console, for the Sessions page's "Ended by" column: the admin's name for
-- a terminate, otherwise the party the reason belongs to (consoles/end-reasons.ts endedBy).
-- Sessions that ended before this column read their end_code instead.
alter table console_sessions add column ended_by text;
comment on column console_sessions.ended_by is
  'Who or what ended the console: an admin''s username for a terminate, else process, user, login, policy, grant, catalogue, network, node or broker.';
update console_sessions set ended_by = case end_code
    when 'process_exited' then 'process'
    when 'client_disconnected' then 'user'
    when 'idle_timeout' then 'policy'
    when 'max_duration' then 'policy'
    when 'grant_ended' then 'grant'
    when 'access_removed' then 'catalogue'
    when 'network_error' then 'network'
    when 'node_lost' then 'node'
    when 'login_ended' then 'login'
    when 'terminated' then 'admin'
    else 'broker' end
  where ended_at is not null;
create index console_sessions_started_idx on console_sessions (started_at desc, id desc);
