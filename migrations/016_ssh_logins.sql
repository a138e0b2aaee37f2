-- The SSH front door's logins: a stock `ssh` client is shown a link and a code; whoever opens the
-- link in a browser, logged in, and confirms it, is the user the SSH connection continues as.
-- Rows live in the database, not in the broker holding the connection, so the link works on any
-- broker behind the load balancer.
create table ssh_logins (
  token_hash        bytea       primary key,
  code              text        not null,
  target            text        not null,
  client_address    text        not null,
  client_version    text        not null,
  broker_id         text        not null,
  created_at        timestamptz not null default now(),
  expires_at        timestamptz not null,
  confirmed_at      timestamptz,
  confirmed_by      uuid        references users (id),
  -- The confirming browser login (its keyed hash): the SSH console ends when that login ends.
  browser_session   bytea,
  -- Taken by the SSH connection: a link works once.
  taken_at          timestamptz,
  constraint ssh_logins_confirmed_ck check ((confirmed_at is null) = (confirmed_by is null) and (confirmed_at is null) = (browser_session is null))
);
create index ssh_logins_expires_idx on ssh_logins (expires_at);
comment on table ssh_logins is
  'SSH front-door logins in flight, keyed by a keyed hash of the link''s token; confirmed once by a logged-in user, taken once by the connection.';

-- Which client a console came from: the SSH client's version string (`SSH-2.0-OpenSSH_9.2p1 …`)
-- for the SSH door; null for the browser.
alter table console_sessions add column client_version text;
