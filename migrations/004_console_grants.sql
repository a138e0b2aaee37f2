-- A console opened on an approval-gated target records the grant it used.
alter table console_sessions add column grant_id uuid references access_requests (id);
comment on column console_sessions.grant_id is
  'The just-in-time grant this console used; the session ends when the grant expires or is revoked.';
