-- A command-line login is a child of the browser login that confirmed it: it ends when that
-- login ends (logout, expiry, an admin's revocation), and an admin can list and revoke it. It is
-- scoped: 'admin' (the admin and audit API: sessions, terminate, revoke, audit) unless the user
-- asked for 'full' at `sallyport admin login --scope full`.
alter table browser_sessions
  add column parent bytea constraint browser_sessions_parent_fk references browser_sessions (id_hash),
  add column scope text not null default 'full' constraint browser_sessions_scope_ck check (scope in ('full', 'admin'));
comment on column browser_sessions.parent is
  'For a command-line login (via cli): the browser login that confirmed it; it ends when that one does.';
comment on column browser_sessions.scope is
  'full: what the user may do; admin: the admin and audit API only (a command-line login''s default).';
create index browser_sessions_parent_idx on browser_sessions (parent) where parent is not null;

alter table cli_logins
  add column id uuid not null default gen_random_uuid() constraint cli_logins_id_key unique,
  add column scope text not null default 'admin' constraint cli_logins_scope_ck check (scope in ('full', 'admin')),
  add column session_hash bytea;
comment on column cli_logins.session_hash is
  'The command-line login this link gave (browser_sessions.id_hash), for listing and revoking it.';

-- Command-line logins made before this had no parent and could outlive their browser login: they
-- end now, and `sallyport admin login` makes a new one.
update browser_sessions
   set ended_at = now(), end_reason = 'upgrade'
 where via = 'cli' and ended_at is null;
