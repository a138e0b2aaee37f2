-- Re-authentication: a login started with max_age remembers it, so the callback can insist that
-- the IdP really authenticated the user within that window (auth_time), not just reused a session.
alter table oidc_logins add column max_age integer;
comment on column oidc_logins.max_age is
  'max_age sent to the IdP for a step-up login (seconds); null for an ordinary login.';
