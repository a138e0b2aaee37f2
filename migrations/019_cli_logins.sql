-- Logins for the command line (`sallyport admin login`), the way a device logs in (RFC 8628's
-- shape): the CLI is given a link and a short code to show, and a secret of its own to poll with.
-- Whoever opens the link in a browser, logged in through the IdP, and confirms it, gives the CLI
-- a login of its own: a browser_sessions row (via 'cli') that ends when the confirming login
-- would have ended, never later. Only keyed hashes of the link token and the poll secret are kept.
create table cli_logins (
  token_hash        bytea       primary key,
  poll_hash         bytea       not null unique,
  code              text        not null,
  client_address    text        not null,
  client_name       text        not null,
  created_at        timestamptz not null default now(),
  expires_at        timestamptz not null,
  confirmed_at      timestamptz,
  confirmed_by      uuid        references users (id),
  browser_session   bytea,
  -- Taken by the polling CLI: a link gives one login.
  taken_at          timestamptz,
  constraint cli_logins_confirmed_ck check ((confirmed_at is null) = (confirmed_by is null) and (confirmed_at is null) = (browser_session is null))
);
create index cli_logins_expires_idx on cli_logins (expires_at);
comment on table cli_logins is
  'Command-line logins in flight, keyed by keyed hashes of the link''s token and the CLI''s poll secret; confirmed once, taken once.';

alter table browser_sessions add column via text not null default 'browser';
alter table browser_sessions add constraint browser_sessions_via_ck check (via in ('browser', 'cli'));
comment on column browser_sessions.via is
  'browser: the session cookie of a login through the IdP; cli: a bearer token given to `sallyport admin login` by a confirmed link.';
